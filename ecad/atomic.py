"""Atomic file writes: readers see the old file or the whole new one, never a partial one.

Files get the mode any new file gets (0666 less the umask), not the 0600 of the temp file they
are written through: a report, an exported schedule or a store object a container wrote must be
readable by the host user it was written for.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["file_mode", "write_atomic"]


def _read_umask() -> int:
    # Read once, at import (os.umask can only be read by setting it, which is not thread-safe).
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def file_mode() -> int:
    """The mode of a new file under this process's umask."""
    return 0o666 & ~_UMASK


def write_atomic(path: str | os.PathLike, data: bytes | str, *, durable: bool = False) -> Path:
    """Write ``data`` to ``path`` through a temp file in the same folder and a rename;
    ``durable``: fsync it before the rename (a store object)."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    try:
        os.fchmod(fd, file_mode())
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out
