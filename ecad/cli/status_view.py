"""What ``ecad status`` shows, as plain data (:class:`StatusSnapshot`) and as text, and the
``--watch`` loop that redraws it.

The snapshot is built from whatever the store and the broker say (``read_status`` in
``ecad.cli.cluster``); rendering never reads anything, so it is tested with plain snapshots.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, TextIO

from ecad.cli.printable import printable
from ecad.cli.table import render_table
from ecad.cli.terminal import controls_allowed
from ecad.report.units import duration, quality_unit
from ecad.search.running import RunningGeneration

if TYPE_CHECKING:
    from ecad.search.preselection.summary import PreselectionStatus

__all__ = [
    "FrontRow",
    "SearchStatus",
    "StatusSnapshot",
    "WorkerStatus",
    "head_line",
    "render_status",
    "watch",
]

_HOME_CLEAR = "\x1b[H\x1b[2J"
UNREADABLE = "unreadable"


@dataclass(frozen=True)
class FrontRow:
    name: str
    quality: float
    relative_cost: float


@dataclass(frozen=True)
class SearchStatus:
    search_id: str
    # "evaluate" (a generation runs), "ask", "done", "cancelled", "failed"; "unreadable": the
    # store could not be read for it now (``reason`` says what), the others are still shown
    phase: str
    generation: int  # generations finished so far
    generations: int
    population: int
    quality_name: str
    evaluated: int = 0  # candidate totals of the finished generations' records
    cached: int = 0
    failed: int = 0
    infeasible: int = 0
    pruned: int = 0  # candidates stopped by pruning (partial evaluations)
    images: int = 0  # images generated, all finished generations
    images_saved: int = 0  # images pruning did not need to generate
    shard_seconds: float = 0.0  # summed time of the shard work (GPU-seconds on one GPU each)
    last_generation: dict[str, Any] | None = None  # the latest record's work and seconds
    running: RunningGeneration | None = None
    images_per_s: float | None = None
    hypervolume: float | None = None
    front: tuple[FrontRow, ...] = ()
    reason: str | None = None  # why the search failed, or why it could not be read
    preselection: PreselectionStatus | None = None  # issue 28: None when it is off
    # the scheduler driving it: {"holder": "host/pid", "expires_in_s": 12.3}; None: none holds
    # its lease, or the broker was not asked (--no-workers)
    lease: dict[str, Any] | None = None

    @property
    def finished(self) -> bool:
        return self.phase in ("done", "finished", "cancelled", "failed")

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["search"] = data.pop("search_id")
        data["finished"] = self.finished
        if self.running is None:
            del data["running"]
        if self.reason is None:
            del data["reason"]
        if self.preselection is None:
            del data["preselection"]
        return data


@dataclass(frozen=True)
class WorkerStatus:
    name: str
    tasks: tuple[str, ...] = ()  # what it runs now, e.g. "generate t-1a2b shard 3"


@dataclass(frozen=True)
class StatusSnapshot:
    searches: tuple[SearchStatus, ...]
    workers: tuple[WorkerStatus, ...] | None = None  # None: not asked, () none answering
    broker_error: str | None = None  # why the workers could not be asked
    taken: float = field(default_factory=time.time)
    refusing: tuple[dict[str, Any], ...] = ()  # workers refusing tasks: {"worker", "reason"}
    store_error: str | None = None  # "store unreachable since ...": nothing else was read

    def to_json(self) -> dict[str, Any]:
        return {
            "store_error": self.store_error,
            "searches": [s.to_json() for s in self.searches],
            "workers": None if self.workers is None else [asdict(w) for w in self.workers],
            "broker_error": self.broker_error,
            "refusing": list(self.refusing),
            "taken": self.taken,
        }


def head_line(s: SearchStatus) -> str:
    """One line per search: where it is and the candidate totals (the driver's wording)."""
    from ecad.search.status import status_line

    if s.phase == UNREADABLE:
        return f"{s.search_id}: unreadable: {s.reason}"
    return status_line(s)


def _search_block(s: SearchStatus, front_rows: int) -> list[str]:
    lines = [head_line(s)]
    if s.phase in ("failed", UNREADABLE):  # nothing else of it can be read
        return lines
    unit = quality_unit(s.quality_name)
    facts = [f"population {s.population}"]
    if s.hypervolume is not None:
        facts.append(f"hypervolume {s.hypervolume:.4f}")
    if s.images_per_s:
        facts.append(f"{s.images_per_s:.1f} img/s")
    lines.append("  " + " | ".join(facts))
    if s.lease is not None:
        lines.append(f"  driven by {s.lease['holder']} (lease expires in "
                     f"{duration(s.lease['expires_in_s'])} unless renewed)")
    last = s.last_generation
    if last and last.get("images"):
        saved = f" ({last['images_saved']} saved by pruning)" if last.get("images_saved") else ""
        lines.append(
            f"  last generation: {last['images']} images{saved}, "
            f"{duration(last['shard_seconds'])} of shard work in {duration(last['seconds'])}"
        )
    if s.front:
        shown = sorted(s.front, key=lambda r: r.relative_cost)[:front_rows]
        table = render_table(
            ["speedup", unit.axis_title, "schedule"],
            [[f"{1 / r.relative_cost:.2f}x", unit.format(r.quality), r.name] for r in shown],
            align="rrl",
        )
        lines += ["  " + ln for ln in table.splitlines()]
        if len(s.front) > len(shown):
            lines.append(f"  ... {len(s.front) - len(shown)} more on the front")
    return lines


def render_status(snapshot: StatusSnapshot, front_rows: int = 8) -> str:
    """The status as plain text (no control characters)."""
    lines: list[str] = []
    if snapshot.store_error is not None:
        lines.append(snapshot.store_error)
    for s in snapshot.searches:
        lines += _search_block(s, front_rows)
    if not snapshot.searches and snapshot.store_error is None:
        lines.append("no searches in the store")
    if snapshot.workers is not None:
        if snapshot.broker_error:
            lines.append(f"workers: unknown ({snapshot.broker_error})")
        elif not snapshot.workers:
            lines.append("workers: none answering")
        else:
            lines.append(f"workers: {len(snapshot.workers)}")
            for w in snapshot.workers:
                lines.append(f"  {w.name}: {', '.join(w.tasks) if w.tasks else 'idle'}")
    for r in snapshot.refusing:
        lines.append(f"worker {r['worker']} refuses tasks: {r['reason']}")
    # Names, reasons and refusals come from the store and Redis: escape what a terminal obeys.
    return "\n".join(printable(line) for line in lines)


def watch(
    read: Callable[[], StatusSnapshot],
    stream: TextIO,
    interval_s: float = 2.0,
    tty: bool | None = None,
    stop: Callable[[StatusSnapshot], bool] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    front_rows: int = 8,
    as_json: bool = False,
) -> StatusSnapshot:
    """Redraw the status every ``interval_s`` until ``stop(snapshot)`` (default: every search
    finished) or Ctrl-C. On a terminal the screen is redrawn in place; elsewhere each refresh
    is printed as a block with a timestamp, without control characters; ``as_json``: one JSON
    document per line per refresh."""
    tty = controls_allowed(stream) if tty is None else tty
    stop = stop or (lambda snap: bool(snap.searches) and all(s.finished for s in snap.searches))
    snapshot = read()
    try:
        while True:
            text = render_status(snapshot, front_rows)
            stamp = time.strftime("%H:%M:%S", time.localtime(snapshot.taken))
            if as_json:
                stream.write(json.dumps(snapshot.to_json()) + "\n")
            elif tty:
                stream.write(f"{_HOME_CLEAR}ecad status  {stamp}  (Ctrl-C stops)\n\n{text}\n")
            else:
                stream.write(f"--- {stamp}\n{text}\n")
            stream.flush()
            if stop(snapshot):
                return snapshot
            sleep(interval_s)
            snapshot = read()
    except KeyboardInterrupt:
        return snapshot


def front_rows_of(members: Sequence[Any]) -> tuple[FrontRow, ...]:
    """Front members as the session gives them -> rows."""
    return tuple(FrontRow(m.schedule.metadata.name, m.quality, m.relative_cost) for m in members)
