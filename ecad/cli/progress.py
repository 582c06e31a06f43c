"""What ``ecad search`` shows while it runs: a bar per generation and one summary line each.

On a terminal the bar (shards done / total, images/s, ETA, cache hits) redraws in place on one
line of stderr, and is replaced by the generation's summary line (hypervolume, front size, best
speedup at a few quality levels) when the generation ends. Anywhere else (a log file, a pipe) the
output is plain lines with no control characters: one when a generation starts, one when it
ends. ``verbose`` adds a line per shard; ``quiet`` prints nothing.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

import click

from ecad.cli.terminal import PlainStream, controls_allowed
from ecad.report.units import best_speedups, duration, quality_unit, rate
from ecad.search.observer import GenerationStarted, GenerationSummary, ShardDone

__all__ = ["SearchProgress", "quiet_detail_logs", "summary_line", "work_bar"]

BAR_WIDTH = 24
_CLEAR_LINE = "\r\x1b[K"


@dataclass
class _Generation:
    event: GenerationStarted
    started: float
    shards_done: int  # already in the store when the generation started (cache hits)
    shards_now: int = 0  # shards finished in this run (cached or computed)
    computed: int = 0  # shards generated now (not cached)
    cached: int = 0
    images: int = 0
    failed: int = 0
    work_seconds: float = 0.0
    details: list[str] = field(default_factory=list)


def summary_line(summary: GenerationSummary, levels: Sequence[float] | None = None) -> str:
    """One line per finished generation, the same on a terminal and in a log."""
    unit = quality_unit(summary.quality_name)
    width = len(str(summary.generations))
    counts = [f"{summary.evaluated} evaluated", f"{summary.cached} cached"]
    counts += [f"{n} {what}" for n, what in ((summary.failed, "failed"),
                                             (summary.infeasible, "infeasible"),
                                             (summary.pruned, "pruned")) if n]
    work = ""
    if summary.images_saved:
        work += f", {summary.images_saved} saved by pruning"
    if summary.shard_seconds:
        work += f", {duration(summary.shard_seconds)} of shard work"
    return (
        f"generation {summary.generation:>{width}}/{summary.generations}  "
        f"HV {summary.hypervolume:.4f}  front {len(summary.front)}  "
        f"{best_speedups(summary.front, unit, levels)}  |  "
        f"{summary.images} images in {duration(summary.seconds)} "
        f"({rate(summary.images, summary.seconds)}){work}, {', '.join(counts)}"
    )


class SearchProgress:
    """A :class:`~ecad.search.observer.SearchObserver` that draws progress on ``stream``."""

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        tty: bool | None = None,
        verbose: bool = False,
        quiet: bool = False,
        quality_levels: Sequence[float] | None = None,
        min_interval_s: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.tty = controls_allowed(self.stream) if tty is None else tty
        self.verbose = verbose
        self.quiet = quiet
        self.levels = quality_levels
        self.min_interval_s = min_interval_s
        self.clock = clock
        self._gen: _Generation | None = None
        self._drawn_at = float("-inf")
        self._bar_shown = False

    # observer events -------------------------------------------------------------------------
    def generation_started(self, started: GenerationStarted) -> None:
        self._gen = _Generation(started, self.clock(), started.shards_done)
        if self.quiet:
            return
        if self.tty:
            self._draw(force=True)
        else:
            already = f", {started.shards_done} already done" if started.shards_done else ""
            self._line(f"generation {started.generation}/{started.generations}: "
                       f"{started.candidates} candidates, {started.shards_total} shards{already}")

    def shard_done(self, event: ShardDone) -> None:
        gen = self._gen
        if gen is None or event.generation != gen.event.generation:
            return
        gen.shards_now += 1
        gen.images += event.images
        gen.work_seconds += event.seconds
        if event.cached:
            gen.cached += 1
        elif event.images:
            gen.computed += 1
        else:
            gen.failed += 1
        if self.quiet:
            return
        if self.verbose:
            what = ("cached" if event.cached else
                    f"{event.images} images in {event.seconds:.2f}s" if event.images else
                    "no images (failed or pruned)")
            self._line(f"  candidate {event.candidate} shard {event.shard}: {what}")
        if self.tty:
            self._draw(force=self._done(gen) >= gen.event.shards_total)

    def generation_finished(self, summary: GenerationSummary) -> None:
        self._gen = None
        if self.quiet:
            return
        self._line(summary_line(summary, self.levels))

    # drawing ---------------------------------------------------------------------------------
    @staticmethod
    def _done(gen: _Generation) -> int:
        return min(gen.event.shards_total, gen.shards_done + gen.shards_now)

    def bar_text(self) -> str:
        """The bar as text (no control characters); empty between generations."""
        gen = self._gen
        if gen is None:
            return ""
        event = gen.event
        done, total = self._done(gen), event.shards_total
        filled = int(BAR_WIDTH * done / total) if total else BAR_WIDTH
        elapsed = self.clock() - gen.started
        eta = "-"
        progressed = done - gen.shards_done
        if progressed > 0 and done < total:
            eta = duration(elapsed / progressed * (total - done))
        elif done >= total:
            eta = "0.0s"
        width = len(str(event.generations))
        return (
            f"generation {event.generation:>{width}}/{event.generations} "
            f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {done}/{total} shards  "
            f"{rate(gen.images, elapsed)}  ETA {eta}  cached {gen.shards_done + gen.cached}"
            + (f"  failed {gen.failed}" if gen.failed else "")
        )

    def _draw(self, force: bool = False) -> None:
        now = self.clock()
        if not force and now - self._drawn_at < self.min_interval_s:
            return
        self._drawn_at = now
        self.stream.write(_CLEAR_LINE + self.bar_text())
        self.stream.flush()
        self._bar_shown = True

    def _line(self, text: str) -> None:
        """A whole line; on a terminal it replaces the bar, which is redrawn below it."""
        if self.tty and self._bar_shown:
            self.stream.write(_CLEAR_LINE)
            self._bar_shown = False
        self.stream.write(text + "\n")
        if self.tty and self._gen is not None:
            self._draw(force=True)
        else:
            self.stream.flush()


class work_bar:
    """The bar of ``generate``/``score``/``embed``/``bench``: on stderr, with count, rate and
    ETA on a terminal; elsewhere click prints the label once, with no control characters.

        with work_bar(total, "generating") as bar:
            bar.update(1)
    """

    def __init__(self, length: int, label: str, unit: str = "img") -> None:
        self.done = 0
        self._started = time.monotonic()
        self._unit = unit
        stderr = click.get_text_stream("stderr")
        self._bar = click.progressbar(
            length=length, label=label,
            file=stderr if controls_allowed(stderr) else PlainStream(stderr), show_pos=True,
            show_eta=True, item_show_func=self._rate)

    def _rate(self, done: int | None) -> str | None:
        if not done:
            return None
        return rate(done, time.monotonic() - self._started, self._unit)

    def __enter__(self) -> work_bar:
        self._bar.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._bar.__exit__(*exc)

    def update(self, n: int = 1) -> None:
        self.done += n
        self._bar.update(n, self.done)


def quiet_detail_logs(*names: str) -> None:
    """Keep the per-shard / per-run INFO lines of ``names`` out of the way of a progress bar,
    unless ``ecad -v`` asked for debug output."""
    if logging.getLogger().getEffectiveLevel() > logging.DEBUG:
        for name in names:
            logging.getLogger(name).setLevel(logging.WARNING)
