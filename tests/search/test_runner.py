"""End-to-end single-machine searches on the tiny model (CPU)."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from ecad.search import SearchSession, load_spec, run_search
from ecad.store import FilesystemStore
from tests.search.conftest import write_spec


def _populations(store, search_id):
    session = SearchSession.open(store, search_id)
    return [
        (r.population.X, r.population.F, r.offspring.X) for r in session.history()
    ], [m.schedule.digest() for m in session.front()]


def test_same_seed_same_front_and_rerun_evaluates_nothing(tmp_path, spec_file):
    spec = load_spec(spec_file)
    lines_a: list[str] = []
    a = run_search(FilesystemStore(tmp_path / "a"), spec, progress=lines_a.append)
    b = run_search(FilesystemStore(tmp_path / "b"), spec, progress=lambda _: None)
    assert a.phase == b.phase == "done"
    assert _populations(a.store, a.search_id) == _populations(b.store, b.search_id)
    assert len(a.front()) >= 1
    hv = [r.hypervolume for r in a.history()]
    assert len(hv) == spec.generations + 1
    assert all(later >= earlier - 1e-12 for earlier, later in itertools.pairwise(hv)), hv

    again: list[str] = []
    run_search(a.store, spec, progress=again.append)
    assert again == [f"search {a.search_id}: found, resuming in {a.store.describe()}"]


def test_identical_candidates_reuse_stored_results_across_searches(tmp_path, spec_file):
    store = FilesystemStore(tmp_path / "s")
    first = run_search(store, load_spec(spec_file), progress=lambda _: None)
    renamed = write_spec(tmp_path, name="other-name")
    lines: list[str] = []
    second = run_search(store, load_spec(renamed), progress=lines.append)
    assert second.search_id != first.search_id
    gens = [ln for ln in lines if ln.startswith("generation")]
    assert gens and all(" 0 evaluated" in ln for ln in gens), gens
    assert second.state.counters.evaluated == 0
    assert second.state.counters.cached == first.state.counters.evaluated


def _search_cmd(spec, store, *extra):
    return [sys.executable, "-m", "ecad.cli", "search", str(spec), "--store", str(store), *extra]


@pytest.mark.slow
def test_sigkill_mid_generation_then_resume_matches_uninterrupted(tmp_path):
    spec_path = write_spec(tmp_path, name="kill", generations=3)
    spec = load_spec(spec_path)
    reference = run_search(FilesystemStore(tmp_path / "ref"), spec, progress=lambda _: None)

    store_dir = tmp_path / "killed"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen(
        _search_cmd(spec_path, store_dir), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    state_file = store_dir / "searches" / spec.search_id() / "state.json"
    deadline = time.time() + 240
    killed_in = None
    while time.time() < deadline and proc.poll() is None:
        if state_file.exists():
            state = json.loads(state_file.read_text())
            evals = len(list((store_dir / "evaluations").glob("*.json")))
            if state["phase"] == "evaluate" and state["generation"] == 2 and evals > 13:
                proc.send_signal(signal.SIGKILL)
                killed_in = state["generation"]
                break
        time.sleep(0.05)
    proc.wait(timeout=300)
    assert killed_in == 2, proc.stdout.read().decode()[-2000:]

    resume_cmd = [
        sys.executable,
        "-m",
        "ecad.cli",
        "search",
        "--resume",
        spec.search_id(),
        "--store",
        str(store_dir),
    ]
    resumed = subprocess.run(resume_cmd, env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resuming at generation 2 (evaluate)" in resumed.stderr  # progress goes to stderr
    store = FilesystemStore(store_dir)
    assert _populations(store, spec.search_id()) == _populations(
        reference.store, reference.search_id
    )
    # issue 27 #8: the work done before the kill is this search's, not a cache: the totals are
    # the uninterrupted run's (evaluations finished before the kill are still not redone)
    state = SearchSession.open(store, spec.search_id()).state
    assert state.counters == reference.state.counters
    assert state.total_work.images == reference.state.total_work.images
    assert np.isfinite(
        [r.hypervolume for r in SearchSession.open(store, spec.search_id()).history()]
    ).all()
