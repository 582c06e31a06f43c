import json
from pathlib import Path

import numpy as np
import pytest

from ecad.errors import ScheduleFormatError
from ecad.schedules import ScheduleLayout, read_schedule, schedule_to_json, write_schedule
from ecad.schedules.heuristics import fora


def _reference_files(reference_dir: Path) -> list[Path]:
    files = sorted((reference_dir / "schedules").rglob("*.json"))
    assert len(files) >= 19
    return files


def test_every_reference_file_loads_and_round_trips(reference_dir, tmp_path):
    files = _reference_files(reference_dir)
    # Counted from the folder (files get published); true TGATE is exactly the gen_tgate* files,
    # the gate-step-20 ones (gate never opens in 20 steps) included.
    tgate = {p for p in files if read_schedule(p).custom_attention is not None}
    assert tgate == {p for p in files if p.parent.name.startswith("gen_tgate")}
    assert {p.parent.name for p in tgate} >= {"gen_tgate", "gen_tgate_m_k_expanded"}
    for path in files:
        original = json.loads(path.read_text())
        schedule = read_schedule(path)
        assert schedule_to_json(schedule) == original, path
        assert schedule.metadata.config == original.get("config")
        assert schedule.metadata.metrics == original.get("metrics")
        out = write_schedule(schedule, tmp_path / path.name)
        assert json.loads(out.read_text()) == original
        assert read_schedule(out) == schedule


def test_reference_layouts(reference_dir):
    alpha = read_schedule(
        reference_dir / "schedules/schedules_in_paper/pixart_alpha_256/ours_fast.json"
    )
    assert alpha.layout.family_name == "pixart-alpha"
    assert alpha.bits.shape == (20, 28 * 3)
    flux = read_schedule(reference_dir / "schedules/schedules_in_paper/flux_256/ours_fast.json")
    assert flux.layout.family_name == "flux-dev"
    assert flux.bits.shape == (20, 19 * 3 + 38 * 3)
    sigma = read_schedule(
        reference_dir / "schedules/sigma_cache_schedules/gen_default/default.json"
    )
    assert sigma.layout.family_name == "pixart-sigma"  # from config.pipeline.name


def test_declared_step_count_that_disagrees_is_kept(reference_dir):
    path = (
        reference_dir
        / "schedules/flux_cache_schedules/gen_default/default_1024x1024_gs_5.0_steps_08.json"
    )
    schedule = read_schedule(path)
    assert schedule.steps == 50
    assert schedule.metadata.declared_steps == 8


def test_genome_order_does_not_depend_on_json_key_order(reference_dir, tmp_path):
    path = reference_dir / "schedules/schedules_in_paper/flux_256/ours_faster.json"
    doc = json.loads(path.read_text())
    sched = doc["cache_schedule"]["schedule"]
    shuffled = {}
    for step in reversed(list(sched)):
        shuffled[step] = {
            block: dict(reversed(list(comps.items())))
            for block, comps in reversed(list(sched[step].items()))
        }
    doc["cache_schedule"]["schedule"] = shuffled
    (tmp_path / "shuffled.json").write_text(json.dumps(doc))
    a, b = read_schedule(path), read_schedule(tmp_path / "shuffled.json")
    assert np.array_equal(a.genome(), b.genome())
    assert a.digest() == b.digest()


@pytest.fixture
def small_doc():
    layout = ScheduleLayout.for_family("pixart-alpha", {"blocks": 2})
    return schedule_to_json(fora(layout, 4, 2))


def _write(tmp_path, doc, name="bad.json"):
    path = tmp_path / name
    path.write_text(json.dumps(doc) if not isinstance(doc, str) else doc)
    return path


def _error(tmp_path, doc, family=None) -> str:
    path = _write(tmp_path, doc)
    with pytest.raises(ScheduleFormatError) as info:
        read_schedule(path, family=family)
    assert str(path) in str(info.value)
    return str(info.value)


def test_missing_step(tmp_path, small_doc):
    del small_doc["cache_schedule"]["schedule"]["002"]
    assert "missing step 002" in _error(tmp_path, small_doc)


def test_unknown_block(tmp_path, small_doc):
    small_doc["cache_schedule"]["schedule"]["001"]["7"] = {"attn1": True, "attn2": True, "ff": True}
    msg = _error(tmp_path, small_doc)
    assert "step 001" in msg and "'7'" in msg and "unknown block" in msg


def test_missing_block_wrong_shape(tmp_path, small_doc):
    del small_doc["cache_schedule"]["schedule"]["003"]["1"]
    msg = _error(tmp_path, small_doc)
    assert "step 003" in msg and "block 1" in msg and "missing" in msg


def test_unknown_component(tmp_path, small_doc):
    small_doc["cache_schedule"]["schedule"]["001"]["0"]["attn3"] = False
    msg = _error(tmp_path, small_doc)
    assert "step 001" in msg and "block 0" in msg and "'attn3'" in msg


def test_missing_component(tmp_path, small_doc):
    del small_doc["cache_schedule"]["schedule"]["002"]["1"]["ff"]
    msg = _error(tmp_path, small_doc)
    assert "step 002" in msg and "block 1" in msg and "'ff'" in msg and "missing" in msg


def test_non_boolean(tmp_path, small_doc):
    small_doc["cache_schedule"]["schedule"]["001"]["1"]["attn2"] = 1
    msg = _error(tmp_path, small_doc)
    assert "step 001" in msg and "block 1" in msg and "'attn2'" in msg and "not a boolean" in msg


def test_schedule_for_another_family(tmp_path, reference_dir):
    doc = json.loads(
        (reference_dir / "schedules/schedules_in_paper/flux_256/ours_fast.json").read_text()
    )
    msg = _error(tmp_path, doc, family="pixart-alpha")
    assert "flux-dev" in msg and "full_attn" in msg


def test_truncated_json(tmp_path, small_doc):
    text = json.dumps(small_doc)
    msg = _error(tmp_path, text[: len(text) // 2])
    assert "not valid JSON" in msg and "line" in msg


def test_not_a_schedule(tmp_path):
    assert "cache_schedule" in _error(tmp_path, {"foo": 1})


def test_unreadable_file(tmp_path):
    with pytest.raises(ScheduleFormatError, match="cannot read"):
        read_schedule(tmp_path / "nope.json")
