"""What ``ecad status`` shows for a search, from its state, its generation records' totals and
(while a generation runs) its progress record. The same for local and cluster searches."""

from __future__ import annotations

from typing import Any

from ecad.search.preselection.summary import preselection_status, status_text
from ecad.search.progress import read_progress
from ecad.search.records import Phase
from ecad.search.session import SearchSession, failure_reason
from ecad.store import ObjectStore

__all__ = ["broken_status", "search_status", "status_line"]


def broken_status(store: ObjectStore, search_id: str, error: Exception) -> dict[str, Any]:
    """The status of a search that cannot be opened: failed (with the recorded reason, else
    the error now) -- the other searches' status is unaffected."""
    reason = failure_reason(store, search_id) or str(error)
    return {"search": search_id, "phase": Phase.FAILED.value, "reason": reason}


def search_status(store: ObjectStore, search_id: str) -> dict[str, Any]:
    session = SearchSession.open(store, search_id)
    phase = session.phase
    if phase is Phase.FAILED:
        return {"search": search_id, "phase": phase.value,
                "reason": session.state.get("failed_reason", "")}
    out: dict[str, Any] = {
        "search": search_id,
        "phase": phase.value,
        "generation": session.generation,
        "generations": session.spec.generations,
        "population": session.spec.population,
        **session.counts.to_json(),
        **session.work.to_json(),
    }
    if (pre := preselection_status(session)) is not None:  # ISSUE 28: pre-selection shown
        out["preselection"] = pre
    prog = read_progress(store, search_id) or {}
    running = (
        phase is Phase.EVALUATE
        and prog.get("phase") == Phase.EVALUATE.value
        and prog.get("generation") == session.generation
    )
    if running:
        out["running"] = {
            "shards_done": prog.get("shards_done", 0),
            "shards_total": prog.get("shards_total", 0),
            "in_flight": prog.get("in_flight", 0),
            "failed": prog.get("failed", 0),
            "eta_seconds": prog.get("eta_seconds"),
        }
    return out


def status_line(r: dict[str, Any]) -> str:
    if r["phase"] == Phase.FAILED.value:
        return f"{r['search']}: failed: {r['reason']}"
    counts = (
        f"evaluated {r['evaluated']}, cached {r['cached']}, failed {r['failed']}, "
        f"infeasible {r['infeasible']}"
    )
    if r.get("pruned"):
        counts += f", pruned {r['pruned']} (partial)"
    if r.get("images"):
        saved = f", {r['images_saved']} saved by pruning" if r.get("images_saved") else ""
        counts += f" | images {r['images']}{saved}, {r['shard_seconds'] / 3600:.2f} GPU-h"
    if r.get("preselection"):
        counts += status_text(r["preselection"])
    finished = r["generation"]  # generations finished so far
    if r["phase"] == Phase.FINISHED.value:
        return f"{r['search']}: done ({finished} generations) | {counts}"
    if r["phase"] == Phase.CANCELLED.value:
        return f"{r['search']}: cancelled after {finished} generations | {counts}"
    head = f"{r['search']}: {r['phase']}, generation {r['generation']}/{r['generations']}"
    run = r.get("running")
    if run is None:
        return f"{head} | {counts}"
    eta = f"{run['eta_seconds'] / 60:.1f} min" if run["eta_seconds"] is not None else "-"
    failing = f", {run['failed']} failed" if run["failed"] else ""
    return (
        f"{head}, shards {run['shards_done']}/{run['shards_total']}, in flight "
        f"{run['in_flight']}{failing}, ETA {eta} | {counts}"
    )
