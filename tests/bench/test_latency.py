"""Latency cost tables calibrated by timing the tiny models (CPU; structure, not speed)."""

from __future__ import annotations

import pytest
import torch

from ecad.bench import BenchSettings, pipeline_call, random_pipeline
from ecad.bench.latency import calibrate_latency, latency_table
from ecad.caching import apply_schedule, remove_schedule
from ecad.cost import CostTable
from ecad.families import get_family
from ecad.schedules import ScheduleLayout
from ecad.schedules.heuristics import fora


@pytest.fixture(scope="module", params=["pixart-alpha", "flux-dev"])
def setup(request):
    family = get_family(request.param)
    pipe = random_pipeline(family, 64, device="cpu", tiny=True)
    call = pipeline_call(pipe, family, BenchSettings(resolution=64, batch=1, steps=3))
    return family, pipe, call


def test_calibration_fits_one_cost_per_component_type(setup):
    family, pipe, call = setup
    calibration = calibrate_latency(pipe, family, call, repeats=1, warmup=0)
    table = calibration.table
    assert table.layout == ScheduleLayout.for_model(family, pipe.transformer)
    assert (table.mode, table.unit, table.resolution) == ("latency", "ms", 64)
    assert table.batch == (2 if family.kind == "pixart" else 1)  # rows per transformer call
    by_type: dict = {}
    for slot, cost in zip(table.layout.slots, table.slot_costs):
        by_type.setdefault((slot.group, slot.component), set()).add(cost)
    assert all(len(costs) == 1 for costs in by_type.values())
    types = len(by_type)
    assert [p["pattern"] for p in calibration.patterns][:2] == ["all computed", "all reused"]
    assert len(calibration.patterns) == 2 + types
    assert calibration.plain_forward_ms > 0 and calibration.overhead_ms_per_step > 0
    assert "CUDA-event timing on cpu" in table.source


def test_table_is_a_cost_model_the_search_can_load(setup, tmp_path):
    family, pipe, call = setup
    table = latency_table(pipe, family, call, repeats=1, warmup=0)
    loaded = CostTable.load(table.save(tmp_path / "latency.json"))
    assert loaded.mode == "latency" and loaded.unit == "ms"
    assert list(loaded.slot_costs) == pytest.approx(list(table.slot_costs))
    schedule = fora(table.layout, 3, 2)
    assert loaded.schedule_cost(schedule) == pytest.approx(table.schedule_cost(schedule))


def test_calibration_leaves_the_pipeline_as_it_was(setup):
    family, pipe, call = setup
    before = pipe(**call, output_type="latent", generator=torch.Generator().manual_seed(0))
    calibrate_latency(pipe, family, call, repeats=1, warmup=0)
    assert getattr(pipe.transformer.forward, "__name__", "") != "<lambda>"  # stub removed
    after = pipe(**call, output_type="latent", generator=torch.Generator().manual_seed(0))
    assert torch.equal(before.images, after.images)
    apply_schedule(pipe, fora(ScheduleLayout.for_model(family, pipe.transformer), 3, 2))
    remove_schedule(pipe)  # the engine still applies and removes cleanly
