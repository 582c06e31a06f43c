"""Published true-TGATE files: loaded with their custom attention, and every way such a file
can be wrong is an error that names it."""

import copy
import json

import pytest

from ecad.errors import ScheduleFormatError
from ecad.schedules import read_schedule, schedule_to_json

NAME = "tgate_m_010_sp_003_fi_001_warmup_002.json"


@pytest.fixture
def doc(reference_dir):
    return json.loads(
        (reference_dir / "schedules/alpha_cache_schedules/gen_tgate" / NAME).read_text()
    )


def _write(tmp_path, data):
    path = tmp_path / "t.json"
    path.write_text(json.dumps(data))
    return path


def _refused(tmp_path, data, match):
    """The file is refused with ``match`` in an error that names it."""
    path = _write(tmp_path, data)
    with pytest.raises(ScheduleFormatError, match=match) as info:
        read_schedule(path)
    assert str(path) in str(info.value)


def _set_custom(data, custom):
    for step in data["cache_schedule"]["schedule"].values():
        for block in step.values():
            block["custom_compute_attn"] = custom


def test_loads_as_true_tgate(reference_dir, doc):
    schedule = read_schedule(reference_dir / "schedules/alpha_cache_schedules/gen_tgate" / NAME)
    assert schedule.layout.family_name == "pixart-alpha"
    assert schedule.custom_attention.gate_step == 10
    assert schedule_to_json(schedule) == doc


def test_unknown_custom_function_is_refused(tmp_path, doc):
    bad = copy.deepcopy(doc)
    _set_custom(bad, {"name": "compute_attn_fancy", "kwargs": {}})
    _refused(tmp_path, bad, "unknown custom_compute_attn function")


def test_gate_step_disagreeing_with_config_is_refused(tmp_path, doc):
    bad = copy.deepcopy(doc)
    bad["config"]["pipeline"]["kwargs"]["gate_step"] = 15
    _refused(tmp_path, bad, "gate_step is 15 but")


def test_entries_must_agree(tmp_path, doc):
    bad = copy.deepcopy(doc)
    bad["cache_schedule"]["schedule"]["004"]["7"]["custom_compute_attn"]["kwargs"]["gate_step"] = 9
    with pytest.raises(ScheduleFormatError, match="step 004, block 7: custom_compute_attn"):
        read_schedule(_write(tmp_path, bad))
    bad = copy.deepcopy(doc)
    del bad["cache_schedule"]["schedule"]["012"]["3"]["custom_compute_attn"]
    with pytest.raises(ScheduleFormatError, match="step 012, block 3: missing custom_compute_attn"):
        read_schedule(_write(tmp_path, bad))


def test_tgate_pipeline_without_entries_is_refused(tmp_path, doc):
    bad = copy.deepcopy(doc)
    for step in bad["cache_schedule"]["schedule"].values():
        for block in step.values():
            del block["custom_compute_attn"]
    with pytest.raises(ScheduleFormatError, match=r"config\.pipeline is 'tgate' but no block"):
        read_schedule(_write(tmp_path, bad))


def _with_gate(doc, gate):
    data = copy.deepcopy(doc)
    _set_custom(data, {"name": "compute_attn_tgate", "kwargs": {"gate_step": gate}})
    data["config"]["pipeline"]["kwargs"]["gate_step"] = gate
    return data


def test_gate_step_outside_the_steps_is_refused(tmp_path, doc):
    _refused(tmp_path, _with_gate(doc, 21), r"gate_step must be in 1\.\.20 for 20 steps")
    _refused(tmp_path, _with_gate(doc, 0), r"needs kwargs \{'gate_step': int >= 1\}")
    _refused(tmp_path, _with_gate(doc, -3), r"needs kwargs \{'gate_step': int >= 1\}")


def test_gate_step_equal_to_the_steps_loads_and_round_trips(tmp_path, doc, reference_dir):
    """Gate at step 20 of 20 (published in gen_tgate_m_k_expanded): the gate never opens in the
    run, and the file is still true TGATE, written back as published."""
    schedule = read_schedule(_write(tmp_path, _with_gate(doc, 20)))
    assert schedule.custom_attention.gate_step == 20
    assert not schedule.custom_attention.opens_within(schedule.steps)
    published = reference_dir / (
        "schedules/alpha_cache_schedules/gen_tgate_m_k_expanded/"
        "tgate_m_020_sp_001_fi_001_warmup_002.json"
    )
    schedule = read_schedule(published)
    assert schedule.custom_attention.gate_step == 20
    assert schedule_to_json(schedule) == json.loads(published.read_text())
