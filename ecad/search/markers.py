"""A search's stop markers, written apart from ``state.json``: cancelled (never races the
scheduler's checkpoint) and failed (an authoritative object of the search is unreadable; the
state itself may be the broken object)."""

from __future__ import annotations

import time
from typing import Any

from ecad.store import MissingObjectError, ObjectStore
from ecad.store.keys import cancelled_key, failed_key
from ecad.store.records import StoreObjectError, read_record, require

__all__ = ["failure_reason", "is_cancelled", "mark_failed", "stopped_reason", "write_cancel_marker"]


def _marker(data: Any) -> str:
    return require(data, "reason", str)


def mark_failed(store: ObjectStore, search_id: str, reason: str) -> None:
    """Mark the search failed (an authoritative object of it is unreadable). A marker next to
    ``state.json``, which may itself be the broken object; the search stops, others go on."""
    store.put_json(failed_key(search_id), {"reason": reason, "time": time.time()})


def failure_reason(store: ObjectStore, search_id: str) -> str | None:
    """Why the search was marked failed, or None if it was not."""
    key = failed_key(search_id)
    if not store.exists(key):
        return None
    try:
        return read_record(store, key, _marker)
    except (StoreObjectError, MissingObjectError) as exc:
        return f"marked failed (the marker itself is unreadable: {exc})"


def is_cancelled(store: ObjectStore, search_id: str) -> bool:
    return store.exists(cancelled_key(search_id))


def stopped_reason(store: ObjectStore, search_id: str) -> str | None:
    """Why the search is stopped by a marker (failed or cancelled), read without its state."""
    if (reason := failure_reason(store, search_id)) is not None:
        return f"failed: {reason}"
    if is_cancelled(store, search_id):
        return "cancelled"
    return None


def write_cancel_marker(store: ObjectStore, search_id: str, reason: str) -> None:
    """Stop the search. A separate marker, so it never races the scheduler's checkpoint (and can
    be written when ``state.json`` itself is unreadable)."""
    store.put_json(cancelled_key(search_id), {"reason": reason, "time": time.time()})
