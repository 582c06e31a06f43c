"""Reading a user's text file with a size limit, every failure one error naming the file."""

from __future__ import annotations

import os
from pathlib import Path

from ecad.errors import ConfigError

__all__ = ["read_text"]


def read_text(
    path: str | os.PathLike, what: str, max_bytes: int, error: type[ConfigError] = ConfigError
) -> str:
    """The UTF-8 text of ``path`` (a BOM is dropped); ``error`` if it cannot be read, is larger
    than ``max_bytes`` (checked without reading more) or is not UTF-8."""
    p = Path(path)
    try:
        with p.open("rb") as f:
            size = os.fstat(f.fileno()).st_size  # 0 for pipes and devices: read up to the limit
            data = f.read(min(size, max_bytes) + 1 if size else max_bytes + 1)
    except OSError as exc:
        raise error(f"{p}: cannot read {what} ({exc.strerror or exc})") from exc
    if len(data) > max_bytes:
        raise error(f"{p}: {what} is larger than {max_bytes} bytes; is it the right file?")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise error(
            f"{p}: {what} is not UTF-8 text (byte {data[exc.start]:#04x} at offset {exc.start})"
        ) from exc
