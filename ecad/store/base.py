"""The object-store contract shared by every backend.

Keys are ``/``-separated relative paths of letters, digits and ``._-=`` (no ``..``, no leading
``/``). Values are bytes. Contract:

* ``put`` is atomic: a reader sees either the old object or the whole new one, never a part.
* Objects are immutable once written by the library's content-addressed callers (the same key
  always gets the same bytes); ``put`` over an existing key replaces it (used for search state).
* ``get`` of a missing key raises :class:`MissingObjectError`; ``exists`` never raises for a
  missing key.
* ``list(prefix)`` yields the keys under ``prefix`` in sorted order.
* Transient failures (network, server busy) raise :class:`ecad.errors.TransientError` after the
  backend's own retries; callers may retry the whole operation.
"""

from __future__ import annotations

import json
import re
from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import Any

from ecad.errors import ConfigError, EcadError

__all__ = ["MissingObjectError", "ObjectStore", "check_key"]

_KEY = re.compile(r"[A-Za-z0-9._=\-]+(/[A-Za-z0-9._=\-]+)*")


class MissingObjectError(EcadError, KeyError):
    """No object under this key."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else "missing object"


def check_key(key: str) -> str:
    bad_part = any(part in (".", "..") for part in str(key).split("/"))
    if not isinstance(key, str) or not _KEY.fullmatch(key) or bad_part:
        raise ConfigError(f"invalid store key {key!r}: use relative a/b/c paths of [A-Za-z0-9._=-]")
    return key


class ObjectStore(ABC):
    """Put/get/exists/list over bytes, with JSON helpers."""

    @abstractmethod
    def put(self, key: str, data: bytes) -> None: ...

    @abstractmethod
    def get(self, key: str) -> bytes: ...

    @abstractmethod
    def exists(self, key: str) -> bool: ...

    @abstractmethod
    def list(self, prefix: str = "") -> Iterator[str]: ...

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove ``key`` if present (used only for mutable records such as leases)."""

    def describe(self) -> str:
        return type(self).__name__

    def put_json(self, key: str, value: Any) -> None:
        self.put(key, json.dumps(value, indent=1, sort_keys=True).encode())

    def get_json(self, key: str) -> Any:
        data = self.get(key)
        try:
            return json.loads(data)
        except json.JSONDecodeError as exc:
            raise EcadError(f"{self.describe()}:{key}: stored JSON is corrupt ({exc})") from exc
