"""``ecad search``'s progress on a real tiny search: in a pseudo-terminal and in a log."""

from __future__ import annotations

import re

from tests.cli.terminal import CONTROL, run_in_pipes, run_in_terminal
from tests.search.conftest import write_spec

BAR = re.compile(r"\r\x1b\[Kgeneration (\d)/1 \[[#.]+\] (\d+)/(\d+) shards")


def _lines(screen: str) -> list[str]:
    """What stays on the terminal: each line after its last in-place redraw."""
    return [ln.split("\r\x1b[K")[-1].strip("\r") for ln in screen.split("\n")]


def test_search_in_a_terminal_draws_a_bar_and_one_summary_per_generation(tmp_path):
    spec = write_spec(tmp_path, generations=1)
    code, screen = run_in_terminal("search", str(spec), "--store", str(tmp_path / "store"))
    assert code == 0, screen[-3000:]
    bars = [(int(g), int(done), int(total)) for g, done, total in BAR.findall(screen)]
    for gen in (0, 1):
        seen = [(done, total) for g, done, total in bars if g == gen]
        assert len(seen) >= 3, bars  # drawn, then updated as shards finish
        assert [d for d, _ in seen] == sorted(d for d, _ in seen)
        assert seen[-1][0] == seen[-1][1] > 0  # ends full
    assert "img/s" in screen and "ETA" in screen
    summaries = [ln for ln in _lines(screen) if " HV " in ln]
    assert [s.split()[1] for s in summaries] == ["0/1", "1/1"]
    assert all("front" in s and "dB" in s and "evaluated" in s for s in summaries)
    assert "INFO" not in screen and "shard 0 of" not in screen  # no per-shard log lines
    assert "search id: t-" in screen


def test_search_log_output_is_plain_lines(tmp_path):
    spec = write_spec(tmp_path, generations=1)
    result = run_in_pipes("search", str(spec), "--store", str(tmp_path / "store"))
    assert result.returncode == 0, result.stderr[-3000:]
    everything = result.stdout + result.stderr
    assert not CONTROL.search(everything.replace("\n", ""))
    lines = result.stderr.splitlines()
    assert sum(" HV " in ln for ln in lines) == 2
    assert [ln for ln in lines if ": 6 candidates, 12 shards" in ln][:1]
    assert "INFO" not in everything and "shard 0 of" not in everything
    assert "search id: t-" in result.stdout


def test_verbose_search_adds_per_shard_lines_and_quiet_only_the_result(tmp_path):
    spec = write_spec(tmp_path, generations=0)
    verbose = run_in_pipes("-v", "search", str(spec), "--store", str(tmp_path / "a"))
    assert verbose.returncode == 0, verbose.stderr[-3000:]
    assert "  candidate 0 shard 0: 2 images in" in verbose.stderr
    quiet = run_in_pipes("search", str(spec), "-q", "--store", str(tmp_path / "b"))
    assert quiet.returncode == 0, quiet.stderr[-3000:]
    assert " HV " not in quiet.stderr and "search id: t-" in quiet.stdout
