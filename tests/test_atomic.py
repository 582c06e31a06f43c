"""Files written for users (reports, exports, store objects) get the umask's mode, not the
0600 of the temp file they are written through."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_WRITE = """
import sys
from ecad.atomic import write_atomic
from ecad.store import FilesystemStore
write_atomic(sys.argv[1] + "/report.html", "<html>")
FilesystemStore(sys.argv[1] + "/store").put("searches/x/spec.json", b"{}")
"""


def _modes_under(umask: int, tmp_path: Path) -> set[int]:
    subprocess.run([sys.executable, "-c", _WRITE, str(tmp_path)], cwd=ROOT, check=True,
                   preexec_fn=lambda: os.umask(umask), timeout=120)
    files = [tmp_path / "report.html", tmp_path / "store" / "searches" / "x" / "spec.json"]
    return {stat.S_IMODE(f.stat().st_mode) for f in files}


def test_written_files_follow_the_umask(tmp_path):
    assert _modes_under(0o022, tmp_path / "a") == {0o644}
    assert _modes_under(0o002, tmp_path / "b") == {0o664}
    assert _modes_under(0o077, tmp_path / "c") == {0o600}
