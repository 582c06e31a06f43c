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
from typing import Any, TextIO

from ecad.cli.table import render_table
from ecad.report.units import duration, quality_unit

__all__ = ["FrontRow", "SearchStatus", "StatusSnapshot", "WorkerStatus", "render_status", "watch"]

_HOME_CLEAR = "\x1b[H\x1b[2J"


@dataclass(frozen=True)
class FrontRow:
    name: str
    quality: float
    relative_cost: float


@dataclass(frozen=True)
class SearchStatus:
    search_id: str
    phase: str  # "evaluate" (a generation runs), "ask", "done", "cancelled"
    generation: int
    generations: int
    population: int
    quality_name: str
    shards_done: int | None = None  # in the running generation; None between generations
    shards_total: int | None = None
    in_flight: int | None = None
    failed: int = 0  # failed candidates so far
    evaluated: int = 0
    cached: int = 0
    images_per_s: float | None = None
    eta_seconds: float | None = None
    hypervolume: float | None = None
    front: tuple[FrontRow, ...] = ()

    @property
    def finished(self) -> bool:
        return self.phase in ("done", "cancelled")


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

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for search, status in zip(data["searches"], self.searches):
            search["finished"] = status.finished
        return data


def _search_block(s: SearchStatus, front_rows: int) -> list[str]:
    unit = quality_unit(s.quality_name)
    if s.finished:
        where = f"{s.phase} ({s.generation} generations)"
    else:
        where = f"generation {min(s.generation, s.generations)}/{s.generations}"
    lines = [f"{s.search_id}: {where}, population {s.population}"]
    if not s.finished and s.shards_total is not None:
        lines.append(
            f"  shards {s.shards_done or 0}/{s.shards_total} done, {s.in_flight or 0} in flight, "
            f"{s.failed} failed candidates | "
            + (f"{s.images_per_s:.1f} img/s" if s.images_per_s else "- img/s")
            + f" | ETA {duration(s.eta_seconds)}"
        )
    lines.append(f"  candidates: {s.evaluated} evaluated, {s.cached} cached, {s.failed} failed"
                 + (f" | hypervolume {s.hypervolume:.4f}" if s.hypervolume is not None else ""))
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
    for s in snapshot.searches:
        lines += _search_block(s, front_rows)
    if not snapshot.searches:
        lines.append("no searches in the store")
    if snapshot.workers is not None:
        if snapshot.broker_error:
            lines.append(f"workers: broker unreachable ({snapshot.broker_error})")
        elif not snapshot.workers:
            lines.append("workers: none answering")
        else:
            lines.append(f"workers: {len(snapshot.workers)}")
            for w in snapshot.workers:
                lines.append(f"  {w.name}: {', '.join(w.tasks) if w.tasks else 'idle'}")
    return "\n".join(lines)


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
    tty = stream.isatty() if tty is None else tty
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


def front_rows_of(members: Sequence[dict[str, Any]]) -> tuple[FrontRow, ...]:
    """Front members as the session gives them -> rows."""
    return tuple(FrontRow(m["schedule"].metadata.name, float(m["quality"]),
                          float(m["relative_cost"])) for m in members)
