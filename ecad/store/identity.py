"""The store's identity: a random id written once, when the store is first used to create a
search (or by the scheduler). Shard tasks carry it; a worker whose store has another identity
(or none) refuses the task, naming both stores, instead of silently skipping work it cannot
see (``store.json``, see :mod:`ecad.store.keys`)."""

from __future__ import annotations

import re
import secrets
import time
from typing import Any

from ecad.store.base import MissingObjectError, ObjectStore
from ecad.store.keys import store_identity_key
from ecad.store.records import RecordError, read_record

__all__ = ["ensure_store_identity", "store_identity"]

_ID = re.compile(r"^[0-9a-f]{32}\Z")


def _identity(data: Any) -> str:
    value = data.get("id") if isinstance(data, dict) else None
    if not isinstance(value, str) or not _ID.match(value):
        raise RecordError(f"id: must be 32 hex digits, got {value!r:.40}")
    return value


def store_identity(store: ObjectStore) -> str | None:
    """The store's id, or None if none was written yet. An unreadable identity object raises
    :class:`ecad.store.records.StoreObjectError` (it is authoritative: never rewritten)."""
    try:
        return read_record(store, store_identity_key(), _identity)
    except MissingObjectError:
        return None


def ensure_store_identity(store: ObjectStore) -> str:
    """The store's id, written first if the store has none."""
    found = store_identity(store)
    if found is not None:
        return found
    store.put_json(
        store_identity_key(),
        {"id": secrets.token_hex(16), "created": time.time(), "store": store.describe()},
    )
    return store_identity(store) or ""  # a concurrent first writer may have won: read back
