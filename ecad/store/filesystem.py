"""Object store on a local directory (the embedded default; no server needed)."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from pathlib import Path

from ecad.atomic import write_atomic
from ecad.store.base import MissingObjectError, ObjectStore, check_key

__all__ = ["FilesystemStore"]


class FilesystemStore(ObjectStore):
    """Objects are files under ``root``; writes go to a temp file renamed into place."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def describe(self) -> str:
        return f"file://{self.root}"

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def put(self, key: str, data: bytes) -> None:
        write_atomic(self._path(key), data, durable=True)

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except (FileNotFoundError, IsADirectoryError):
            raise MissingObjectError(f"{self.describe()}: no object {key!r}") from None
        except OSError as exc:
            if exc.errno == errno.ENAMETOOLONG:  # no file of that name can exist
                raise MissingObjectError(f"{self.describe()}: no object {key!r:.120}") from None
            raise

    def exists(self, key: str) -> bool:
        try:
            return self._path(key).is_file()
        except OSError as exc:  # is_file() hides only "not found"-like errors, not this one
            if exc.errno == errno.ENAMETOOLONG:
                return False
            raise

    def list(self, prefix: str = "") -> Iterator[str]:
        # Walk only the directories that can hold a key with this prefix: a scheduler lists
        # small prefixes (``failures/``) every tick of a store holding every image of a search.
        head = prefix.rpartition("/")[0]
        start = self.root / head if head else self.root
        if not start.is_dir():
            return
        root = str(self.root)
        found = []
        for dirpath, dirs, files in os.walk(start):
            rel = dirpath[len(root) + 1 :].replace(os.sep, "/")
            rel = f"{rel}/" if rel else ""
            dirs[:] = [d for d in dirs if _may_hold(f"{rel}{d}/", prefix)]
            found.extend(
                rel + name
                for name in files
                if not name.startswith(".") and (rel + name).startswith(prefix)
            )
        yield from sorted(found)

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)


def _may_hold(directory: str, prefix: str) -> bool:
    """Whether keys under ``directory`` (``a/b/``) can start with ``prefix``."""
    return directory.startswith(prefix) or prefix.startswith(directory)
