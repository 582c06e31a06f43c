"""Build ``ecad status``'s :class:`StatusSnapshot` from the store and the broker."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from ecad.cli.status_view import (
    UNREADABLE,
    SearchStatus,
    StatusSnapshot,
    WorkerStatus,
    front_rows_of,
)
from ecad.errors import ConfigError, EcadError, TransientError
from ecad.store import ObjectStore

__all__ = ["read_search", "read_snapshot", "read_workers"]

#: What ``ecad status`` shows as the search's status record has it.
_RECORD_FIELDS = (
    "generation", "generations", "population", "evaluated", "cached", "failed", "infeasible",
    "pruned", "images", "images_saved", "shard_seconds", "preselection",
)


def read_search(store: ObjectStore, search_id: str) -> SearchStatus:
    """The driver's status (counts from the generation records, shard numbers while a generation
    runs) with what a person watching wants beside it: images/s, hypervolume, the front."""
    from ecad.search import SearchSession
    from ecad.search.records import Phase
    from ecad.search.status import broken_status, search_status
    from ecad.store.keys import state_key

    session = None
    try:
        r = search_status(store, search_id)
        session = None if r.phase is Phase.FAILED else SearchSession.open(store, search_id)
    except EcadError as exc:  # one unreadable search is reported failed, alone
        if not store.exists(state_key(search_id)):
            raise  # no such search
        r = broken_status(store, search_id, exc)
    if session is None:
        return SearchStatus(search_id=search_id, phase=r.phase.value, generation=0,
                            generations=0, population=0, quality_name="", reason=r.reason)
    last = session.last_record()
    images_per_s = None
    last_generation = None
    if last is not None:
        last_generation = {**last.work.to_json(), "seconds": last.seconds}
        if last.seconds > 0:
            images_per_s = last.work.images / last.seconds or None
    return SearchStatus(
        search_id=search_id,
        phase=r.phase.value,
        quality_name=session.spec.quality.name,
        **{name: getattr(r, name) for name in _RECORD_FIELDS},
        last_generation=last_generation,
        running=r.running,
        images_per_s=images_per_s,
        hypervolume=last.hypervolume if last is not None else None,
        front=front_rows_of(session.front()),
    )


def _describe_task(task: dict[str, Any]) -> str:
    """``shard t-1a2b shard 3/8``: the task's kind, its search and its shard."""
    name = str(task.get("name", "?")).rsplit(".", 1)[-1]
    args = task.get("args") or []
    message = args[0] if args and isinstance(args[0], dict) else None
    if message is not None and {"search_id", "kind", "shard"} <= message.keys():
        of = f"/{message['shards']}" if "shards" in message else ""
        return f"{message['kind']} {message['search_id']} shard {message['shard']}{of}"
    if len(args) >= 3 and isinstance(args[0], str):  # (search id, schedule digest, shard)
        return f"{name.replace('_shard', '')} {args[0]} shard {args[-1]}"
    return f"{name} {str(args)[:60]}"


def read_workers() -> tuple[tuple[WorkerStatus, ...], TransientError | None]:
    """Workers answering the broker, with the tasks each runs now; or why none could be asked
    (within a few seconds: see :mod:`ecad.cli.broker`)."""
    from ecad.cli.broker import active_tasks

    try:
        active = active_tasks()
    except TransientError as exc:
        return (), exc
    return tuple(WorkerStatus(name, tuple(_describe_task(t) for t in tasks))
                 for name, tasks in sorted(active.items())), None


def _read_listed(store: ObjectStore, search_id: str, listed: bool) -> SearchStatus:
    """:func:`read_search`; a search that cannot be read is one line of its own, not the end
    of the listing (an id asked for by name that does not exist stays a usage error)."""
    try:
        return read_search(store, search_id)
    except TransientError:
        raise  # the store is not answering: that is no one search's problem
    except EcadError as exc:
        if isinstance(exc, ConfigError) and not listed:
            raise
        return _unreadable(search_id, exc)


def _unreadable(search_id: str, exc: BaseException) -> SearchStatus:
    return SearchStatus(search_id=search_id, phase=UNREADABLE, generation=0, generations=0,
                        population=0, quality_name="", reason=str(exc))


def read_snapshot(store: ObjectStore, ids: Sequence[str] | None, workers: bool) -> StatusSnapshot:
    from ecad.search import SearchSession

    listed = not ids
    ids = list(ids) if ids else SearchSession.list_ids(store)
    seen, error = read_workers() if workers else (None, None)
    refusing: list[dict[str, Any]] = []
    leases: dict[str, dict[str, Any]] = {}
    if workers and error is None:
        from ecad.cli.broker import refusing_workers, search_leases

        try:
            refusing = refusing_workers()
            leases = search_leases(ids)
        except TransientError as exc:
            error = exc
    searches = (_read_listed(store, sid, listed) for sid in ids)
    return StatusSnapshot(
        searches=tuple(replace(s, lease=leases.get(s.search_id)) for s in searches),
        workers=seen,
        broker_error=None if error is None else str(error),
        taken=time.time(),
        refusing=tuple(refusing),
    )
