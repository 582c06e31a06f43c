"""Run an ``ecad`` command in a pseudo-terminal (stdlib ``pty``) or with plain pipes."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time

__all__ = ["CONTROL", "run_in_pipes", "run_in_terminal"]

import re

#: Control characters other than newline and tab (a bar's \r, ANSI escapes' \x1b).
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def _env() -> dict[str, str]:
    return {**os.environ, "COLUMNS": "160", "LINES": "40", "TERM": "xterm"}


def run_in_terminal(*args: str, timeout: float = 600) -> tuple[int, str]:
    """``python -m ecad.cli ARGS`` with stdout and stderr on a pseudo-terminal; returns the exit
    code and everything the terminal received (control characters included)."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: its stdin/stdout/stderr are the terminal
        try:
            os.execve(sys.executable, [sys.executable, "-m", "ecad.cli", *args], _env())
        finally:
            os._exit(127)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 1.0)
            if not ready:
                continue
            try:
                data = os.read(fd, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        else:
            os.kill(pid, 9)
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    return os.waitstatus_to_exitcode(status), b"".join(chunks).decode(errors="replace")


def run_in_pipes(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ecad.cli", *args], env=_env(),
                          capture_output=True, text=True, timeout=timeout)
