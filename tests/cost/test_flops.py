import json

import numpy as np
import pytest

from ecad.cost import CostTable, macs_table
from ecad.errors import ConfigError, ScheduleMismatchError
from ecad.schedules import ScheduleLayout, read_schedule
from ecad.schedules.heuristics import fora, no_cache

PUBLISHED = [
    "schedules_in_paper/pixart_alpha_256/ours_fast.json",
    "schedules_in_paper/pixart_alpha_256/ours_faster.json",
    "schedules_in_paper/pixart_alpha_256/ours_fastest.json",
    "alpha_cache_schedules/gen_default/default.json",
    "schedules_in_paper/pixart_alpha_ablations/pop_24_imgs_pp_10_prompts_100_highest_tmacs.json",
    "schedules_in_paper/flux_256/ours_fast.json",
    "schedules_in_paper/flux_256/ours_faster.json",
    "schedules_in_paper/flux_256_to_1024/fast_256_to_1024.json",
]


@pytest.mark.parametrize("name", PUBLISHED)
def test_linear_macs_reproduce_published_totals(reference_dir, name):
    schedule = read_schedule(reference_dir / "schedules" / name)
    resolution = (schedule.metadata.config or {}).get("height", 256)
    table = macs_table(schedule.layout.family, resolution, batch=2, mode="macs-linear")
    published = schedule.metadata.metrics["total_macs"]
    assert table.schedule_cost(schedule) == pytest.approx(published, rel=1e-3)
    per_step = [
        v["macs"] for _, v in sorted(schedule.metadata.metrics["by_inference_step"].items())
    ]
    assert np.allclose(table.step_costs(schedule), per_step, rtol=1e-3)


def test_reference_pixart_numbers(reference_dir):
    table = macs_table("pixart-alpha", 256, batch=2, mode="macs-linear")
    assert (table.base + table.slot_costs.sum()) / 1e9 == pytest.approx(285.69, abs=0.01)
    totals = {
        n: table.schedule_cost(
            read_schedule(
                reference_dir / "schedules/schedules_in_paper/pixart_alpha_256" / f"{n}.json"
            )
        )
        for n in ("ours_fast", "ours_fastest")
    }
    assert totals["ours_fast"] / 1e12 == pytest.approx(2.135, abs=1e-3)
    assert totals["ours_fastest"] / 1e12 == pytest.approx(1.175, abs=1e-3)


def test_sigma_published_files_used_alpha_text_length(reference_dir):
    schedule = read_schedule(
        reference_dir / "schedules/sigma_cache_schedules/gen_default/default.json"
    )
    assert schedule.layout.family_name == "pixart-sigma"
    published = schedule.metadata.metrics["total_macs"]
    table_120 = macs_table("pixart-sigma", 256, 2, "macs-linear", text_tokens=120)
    assert table_120.schedule_cost(schedule) == pytest.approx(published, rel=1e-3)
    assert macs_table("pixart-sigma", 256, 2, "macs-linear").schedule_cost(schedule) > published


def test_full_mode_counts_attention():
    linear = macs_table("pixart-alpha", 256, 2, "macs-linear")
    full = macs_table("pixart-alpha", 256, 2, "macs")
    comps_l, comps_f = linear.component_costs(), full.component_costs()
    assert comps_f["attn1"] > comps_l["attn1"] and comps_f["ff"] == comps_l["ff"]
    assert full.relative_cost(fora(full.layout, 20, 3)) == pytest.approx(
        linear.relative_cost(fora(linear.layout, 20, 3)), rel=1e-2
    )
    assert macs_table("pixart-alpha", 512, 2).full_cost(20) > 4 * full.full_cost(20) * 0.99


def test_json_round_trip_and_checks(tmp_path):
    table = macs_table("flux-dev", 256, 1, "macs")
    loaded = CostTable.load(table.save(tmp_path / "t.json"))
    s = fora(table.layout, 20, 3)
    assert loaded.schedule_cost(s) == pytest.approx(table.schedule_cost(s))
    assert loaded.schedule_cost(no_cache(table.layout, 20)) == pytest.approx(table.full_cost(20))
    with pytest.raises(ScheduleMismatchError):
        table.schedule_cost(no_cache(ScheduleLayout.for_family("pixart-alpha"), 20))
    (tmp_path / "bad.json").write_text(json.dumps({"family": "flux-dev"}))
    with pytest.raises(ConfigError, match="lacks field"):
        CostTable.load(tmp_path / "bad.json")


def test_bad_resolution():
    with pytest.raises(ConfigError, match="multiple of 16"):
        macs_table("pixart-alpha", 250)
