import numpy as np
import pytest

from ecad.errors import ConfigError
from ecad.schedules import ScheduleLayout
from ecad.schedules.baselines import baseline_schedules
from ecad.schedules.heuristics import (
    attention_every,
    cross_attn_gate,
    evenly_spaced,
    fora,
    no_cache,
    random_schedule,
)

PIXART = ScheduleLayout.for_family("pixart-alpha")
FLUX = ScheduleLayout.for_family("flux-dev")


def _cols(layout, component):
    return [i for i, s in enumerate(layout.slots) if s.component == component]


def test_no_cache_and_fora():
    assert no_cache(PIXART, 20).bits.all()
    f = fora(PIXART, 20, 3)
    assert [bool(r.all()) for r in f.bits] == [t % 3 == 0 for t in range(20)]
    assert not f.bits[1].any()


def test_attention_every_keeps_mlps():
    s = attention_every(FLUX, 20, 2)
    for comp in ("full_ff", "full_ff_context", "single_proj_mlp", "single_proj_out"):
        assert s.bits[:, _cols(FLUX, comp)].all()
    assert not s.bits[1, _cols(FLUX, "single_attn")].any()


def test_cross_attn_gate():
    s = cross_attn_gate(PIXART, 20, k=2, m=8)
    attn1, attn2, ff = (s.bits[:, _cols(PIXART, c)] for c in ("attn1", "attn2", "ff"))
    assert ff.all()
    assert attn2[:8].all() and not attn2[8:].any()
    assert attn1[::2].all() and not attn1[1::2].any()
    with pytest.raises(ConfigError, match="m"):
        cross_attn_gate(PIXART, 20, 2, 0)


def test_evenly_spaced():
    s = evenly_spaced(PIXART, 20, "ff", 4, blocks=[0, 5])
    reused = np.argwhere(~s.bits)
    assert {PIXART.slots[c].component for _, c in reused} == {"ff"}
    assert {PIXART.slots[c].block for _, c in reused} == {0, 5}
    assert len({int(t) for t, _ in reused}) == 4 and 0 not in {int(t) for t, _ in reused}
    with pytest.raises(ConfigError, match="unknown component"):
        evenly_spaced(PIXART, 20, "full_attn", 3)


def test_random_is_seeded():
    a, b = random_schedule(FLUX, 10, 0.5, 1), random_schedule(FLUX, 10, 0.5, 1)
    assert a == b and a != random_schedule(FLUX, 10, 0.5, 2)
    assert 0.3 < a.reuse_fraction() < 0.6


def test_shipped_baselines_match_generators():
    from pathlib import Path

    from ecad.schedules import read_schedule

    root = Path(__file__).resolve().parents[2] / "schedules"
    from ecad.families import FAMILIES

    for family in FAMILIES.values():
        layout = ScheduleLayout.for_family(family)
        for sched in baseline_schedules(layout, family.default_steps):
            path = root / family.name / f"{sched.metadata.name}.json"
            assert read_schedule(path, family=family.name) == sched
