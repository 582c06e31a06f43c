"""The search progress observer, driven with synthetic events."""

from __future__ import annotations

import io
import re

from ecad.cli.progress import SearchProgress, summary_line
from ecad.report.units import best_speedups, quality_unit
from ecad.search.observer import GenerationStarted, GenerationSummary, ShardDone

CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _plan(gen: int, total: int = 4, done: int = 0) -> GenerationStarted:
    return GenerationStarted("s-1", gen, 2, candidates=2, shards_total=total, shards_done=done,
                          images_per_shard=4)


def _summary(gen: int) -> GenerationSummary:
    return GenerationSummary("s-1", gen, 2, evaluated=1, cached=1, failed=0, infeasible=1,
                             pruned=0, hypervolume=0.5, front=((31.0, 0.5), (26.0, 0.25)),
                             quality_name="psnr", images=12, seconds=6.0)


def _drive(progress: SearchProgress, clock: Clock, generations: int = 2) -> None:
    for gen in range(generations):
        progress.generation_started(_plan(gen))
        for shard in range(4):
            clock.now += 1.5
            cached = shard == 0
            progress.shard_done(ShardDone("s-1", gen, shard // 2, shard % 2,
                                          0 if cached else 4, cached, 0 if cached else 1.4))
        progress.generation_finished(_summary(gen))


def test_terminal_bar_redraws_in_place_and_ends_with_one_summary_per_generation():
    out, clock = io.StringIO(), Clock()
    _drive(SearchProgress(out, tty=True, min_interval_s=0, clock=clock), clock)
    text = out.getvalue()
    bars = [b for b in text.split("\r\x1b[K") if b.startswith("generation 0/2 [")]
    assert len(bars) >= 5  # drawn at the start and after each of the 4 shards
    assert "1/4 shards" in bars[1] and "cached 1" in bars[1]
    # 2 shards done after 3 s with 1 of them computed: 4 images / 3 s, ETA 2 shards * 1.5 s
    assert "2/4 shards  1.3 img/s  ETA 3.0s  cached 1" in text
    assert "4/4 shards" in text
    lines = [ln for ln in text.replace("\r\x1b[K", "\n").splitlines() if "HV" in ln]
    assert len(lines) == 2
    assert lines[0].startswith("generation 0/2  HV 0.5000  front 2  best none @ PSNR >= 35.00 dB"
                               ", 2.00x @ >= 30.00 dB, 4.00x @ >= 25.00 dB")
    assert "12 images in 6.0s (2.0 img/s), 1 evaluated, 1 cached, 1 infeasible" in lines[0]


def test_log_output_has_no_control_characters_and_no_per_shard_lines():
    out, clock = io.StringIO(), Clock()
    _drive(SearchProgress(out, tty=False, clock=clock), clock)
    text = out.getvalue()
    assert not CONTROL.search(text.replace("\n", ""))
    lines = text.splitlines()
    assert lines[0] == "generation 0/2: 2 candidates, 4 shards"
    assert len(lines) == 4 and sum("HV" in ln for ln in lines) == 2
    assert not any("shard 1" in ln for ln in lines)


def test_verbose_adds_a_line_per_shard_and_quiet_prints_nothing():
    out, clock = io.StringIO(), Clock()
    _drive(SearchProgress(out, tty=False, verbose=True, clock=clock), clock, generations=1)
    lines = out.getvalue().splitlines()
    assert "  candidate 0 shard 0: cached" in lines
    assert "  candidate 1 shard 1: 4 images in 1.40s" in lines
    quiet = io.StringIO()
    _drive(SearchProgress(quiet, tty=True, quiet=True, clock=clock), clock)
    assert quiet.getvalue() == ""


def test_terminal_redraw_is_throttled_but_the_last_shard_always_draws():
    out, clock = io.StringIO(), Clock()
    progress = SearchProgress(out, tty=True, min_interval_s=10.0, clock=clock)
    progress.generation_started(_plan(0, total=3, done=1))
    for shard in range(2):
        clock.now += 1
        progress.shard_done(ShardDone("s-1", 0, 0, shard, 4, False, 1.0))
    text = out.getvalue()
    assert "2/3 shards" not in text  # within the interval: not redrawn
    assert "3/3 shards" in text and "ETA 0.0s" in text


def test_best_speedups_without_levels_shows_the_front_ends():
    unit = quality_unit({"scorer": "image-reward"})
    text = best_speedups(((0.8, 0.5), (0.2, 0.25)), unit)
    assert text == "fastest 4.00x at ImageReward 0.200, best ImageReward 0.800 at 2.00x"
    assert best_speedups((), unit) == "front empty"
    ssim = quality_unit("ssim")
    front = ((0.99, 0.5), (0.91, 1 / 3))
    assert best_speedups(front, ssim, levels=(0.9,)) == "best 3.00x @ SSIM >= 0.9000"
    assert best_speedups(front, ssim) == ("best 2.00x @ SSIM >= 0.9500, 3.00x @ >= 0.9000, "
                                          "3.00x @ >= 0.8000")
    # default levels that all give the same answer say nothing: the front's ends instead
    assert best_speedups(((0.99, 0.5),), ssim).startswith("fastest 2.00x at SSIM 0.9900")


def test_summary_line_shows_failures_only_when_there_are_some():
    line = summary_line(_summary(1))
    assert "failed" not in line and "generation 1/2" in line


def test_summary_line_counts_pruning_and_shard_work():
    from dataclasses import replace

    from ecad.cli.progress import summary_line

    plain = summary_line(_summary(0))
    assert "saved by pruning" not in plain and "shard work" not in plain
    pruned = replace(_summary(0), pruned=3, images_saved=40, shard_seconds=5.0)
    line = summary_line(pruned)
    assert "12 images in 6.0s (2.0 img/s), 40 saved by pruning, 5.0s of shard work" in line
    assert line.endswith("1 evaluated, 1 cached, 1 infeasible, 3 pruned")
