"""Compiled benchmarks and ``--compile`` on the command line, with tiny models on the CPU
(dynamo's ``eager`` backend: the code paths, not inductor's speed)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from ecad.bench import BenchReport
from ecad.caching import COMPILE_MODES
from ecad.cli.main import cli
from ecad.cli.options import compile_options
from tests.conftest import REPO_ROOT


@pytest.fixture(autouse=True)
def _fresh_dynamo():
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


def test_bench_compile_times_each_case_eager_and_compiled(tmp_path):
    args = ["bench", "--family", "pixart-alpha", "--tiny", "--device", "cpu", "--batch-size", "1"]
    args += ["--resolution", "64", "--steps", "3", "--fora", "2", "--repeats", "1"]
    args += ["--warmup", "0", "--compile", "default", "--compile-backend", "eager"]
    args += ["--out-dir", str(tmp_path)]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    stem = "pixart-alpha-64-b1-tiny-cpu-compile-default"
    report = BenchReport.load(tmp_path / f"{stem}.json")
    rows = {(r.label, r.engine): r for r in report.rows}
    assert set(rows) == {
        (label, engine)
        for label, base in (("plain diffusers", "none"), ("no-cache", "lean"), ("fora-2", "lean"))
        for engine in (base, f"{base}+default")
    }
    assert {r.output for r in report.rows} == {"latent"} and not report.settings["errors"]
    assert rows["plain diffusers", "none+default"].speedup == 1.0  # compiled over compiled
    fora = rows["fora-2", "lean+default"]
    assert fora.compile["patterns"] == fora.compile["compiled"] == 3  # steps: 0, 1, 2
    assert fora.compile["max_rel_diff_vs_eager"] < 1e-5 and fora.compile_seconds >= 0
    assert len(fora.transformer_call_ms) == 3  # one call per step (batched guidance)
    assert fora.transformer_ms_per_image == pytest.approx(sum(fora.transformer_call_ms))
    assert rows["fora-2", "lean"].compile is None
    assert "| fora-2 | 3 |" in (tmp_path / f"{stem}.md").read_text()


def test_compile_option_lists_the_engine_modes():
    command = compile_options(lambda **_: None)
    option = next(p for p in command.__click_params__ if p.name == "compile_mode")
    assert tuple(option.type.choices) == COMPILE_MODES


@pytest.mark.slow
def test_generate_compiled_writes_the_same_images(tmp_path, tiny_dirs):
    runner = CliRunner()
    schedule = tmp_path / "fora.json"
    make = ["schedule", "make", "fora", "--family", "pixart-alpha", "--steps", "4", "--n", "2",
            "--num-blocks", "blocks=2", "-o", str(schedule)]
    assert runner.invoke(cli, make).exit_code == 0
    common = ["generate", "--family", "pixart-alpha", "--weights", str(tiny_dirs["pixart-alpha"]),
              "--schedule", str(schedule), "--prompt", "a red cube", "--resolution", "64",
              "--device", "cpu"]
    for name, extra in (("eager", []), ("compiled", ["--compile", "reduce-overhead",
                                                     "--compile-backend", "eager"])):
        result = runner.invoke(cli, [*common, *extra, "--output-dir", str(tmp_path / name)],
                               catch_exceptions=False)
        assert result.exit_code == 0, result.output
    eager, compiled = (np.asarray(Image.open(tmp_path / n / "p00000_i000.png"), dtype=int)
                       for n in ("eager", "compiled"))
    assert np.abs(eager - compiled).max() <= 1


@pytest.mark.slow
def test_compile_benchmark_script_tiny(tmp_path):
    cmd = [sys.executable, str(REPO_ROOT / "benchmarks" / "compile" / "run.py"), "--tiny",
           "--device", "cpu", "--only", "pixart", "--batch", "1", "--schedule", "fora-3",
           "--schedule", "tgate", "--backend", "eager", "--repeats", "1", "--warmup", "0",
           "--profile", "--out-dir", str(tmp_path)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=REPO_ROOT)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert done.stdout.count(" ms/img  speedup") == 6  # plain, fora-3, tgate: eager, compiled
    data = json.loads((tmp_path / "compile-pixart-alpha-64-b1-cpu-tiny.json").read_text())
    labels = [(r["label"], r["engine"]) for r in data["rows"]]
    assert ("tgate", "lean+reduce-overhead") in labels and not data["settings"]["errors"]
    profiled = [r["profile"] for r in data["rows"] if r["engine"].endswith("reduce-overhead")]
    assert len(profiled) == 3 and all(p["wall_ms"] > 0 for p in profiled)  # CPU: wall only
    assert "| tgate |" in (tmp_path / "compile-summary-cpu-tiny.md").read_text()


def test_large_alone_runs_only_the_large_batch_and_adds_to_chosen_sizes():
    from benchmarks.compile.run import configurations, parse_args

    assert configurations(parse_args(["--only", "pixart", "--large"])) == [("pixart", 256, 100)]
    chosen = configurations(parse_args(["--only", "pixart", "--large", "--batch", "1"]))
    assert chosen == [("pixart", 256, 1), ("pixart", 1024, 1), ("pixart", 256, 100)]
    assert ("pixart", 256, 100) not in configurations(parse_args(["--only", "pixart"]))
