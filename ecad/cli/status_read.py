"""Build ``ecad status``'s :class:`StatusSnapshot` from the store and the broker."""

from __future__ import annotations

import socket
import time
from collections.abc import Sequence
from typing import Any

from ecad.cli.status_view import (
    Running,
    SearchStatus,
    StatusSnapshot,
    WorkerStatus,
    front_rows_of,
)
from ecad.store import ObjectStore

__all__ = ["read_search", "read_snapshot", "read_workers"]


def _images_per_s(session: Any, prog: dict[str, Any]) -> float | None:
    """Images per second over the finished generations (evaluated candidates' images)."""
    gens = prog.get("generations") or []
    seconds = sum(float(g.get("seconds", 0)) for g in gens)
    evaluated = sum(int((g.get("counts") or {}).get("evaluated", 0)) for g in gens)
    per_candidate = len(session.setting.prompts) * session.spec.images_per_prompt
    return evaluated * per_candidate / seconds if seconds > 0 and evaluated else None


def read_search(store: ObjectStore, search_id: str) -> SearchStatus:
    from ecad.search import SearchSession
    from scheduler.progress import read_progress

    session = SearchSession.open(store, search_id)
    prog = read_progress(store, search_id) or {}
    phase = str(getattr(session.phase, "value", session.phase))
    counters = session.state["counters"]
    running = None
    if (phase == "evaluate" and prog.get("phase") == "evaluate"
            and prog.get("generation") == session.generation
            and prog.get("shards_total") is not None):  # else the record is the last generation's
        running = Running(int(prog.get("shards_done") or 0), int(prog["shards_total"]),
                          int(prog.get("in_flight") or 0), int(prog.get("failed") or 0),
                          prog.get("eta_seconds"))
    history = session.history()
    last = history[-1] if history else None
    quality = session.spec.to_json()["quality"]
    return SearchStatus(
        search_id=search_id,
        phase=phase,
        generation=session.generation,
        generations=session.spec.generations,
        population=session.spec.population,
        quality_name=str(quality.get("metric") or quality["scorer"]),
        evaluated=int(counters.get("evaluated", 0)),
        cached=int(counters.get("cached", 0)),
        failed=int(counters.get("failed", 0)),
        infeasible=int(counters.get("infeasible", 0)),
        running=running,
        images_per_s=_images_per_s(session, prog),
        hypervolume=float(last["hypervolume"]) if last else None,
        front=front_rows_of(session.front()) if last else (),
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


def _unreachable(url: str) -> str | None:
    """Why the broker at ``url`` cannot be reached (None if a TCP connection opens): Celery's
    inspect would otherwise retry for tens of seconds per refresh."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss", "amqp", "amqps", "pyamqp"):
        return None
    default = {"redis": 6379, "rediss": 6379}.get(parts.scheme, 5672)
    try:
        socket.create_connection((parts.hostname or "127.0.0.1", parts.port or default),
                                 timeout=1.0).close()
    except OSError as exc:
        return f"{parts.scheme}://{parts.hostname}:{parts.port or default}: {exc.strerror or exc}"
    return None


def read_workers() -> tuple[tuple[WorkerStatus, ...], str | None]:
    """Workers answering the broker, with the tasks each runs now; or why none could be asked."""
    from worker.config import broker_url

    error = _unreachable(broker_url)
    if error is not None:
        return (), error
    try:
        from worker.app import app

        active = app.control.inspect(timeout=1.0).active() or {}
    except Exception as exc:  # broker trouble: status still shows the store's view
        return (), str(exc)
    return tuple(WorkerStatus(name, tuple(_describe_task(t) for t in tasks or []))
                 for name, tasks in sorted(active.items())), None


def read_snapshot(store: ObjectStore, ids: Sequence[str] | None, workers: bool) -> StatusSnapshot:
    from ecad.search import SearchSession

    ids = list(ids) if ids else SearchSession.list_ids(store)
    seen, error = read_workers() if workers else (None, None)
    return StatusSnapshot(
        searches=tuple(read_search(store, sid) for sid in ids),
        workers=seen,
        broker_error=error,
        taken=time.time(),
    )
