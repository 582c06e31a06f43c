"""The paper's heuristics: placement rules on small cases computed by hand, and the published
true-TGATE files reproduced by the generator."""

import json

import numpy as np
import pytest

from ecad.errors import ConfigError
from ecad.schedules import ScheduleLayout, read_schedule, schedule_to_json
from ecad.schedules.catalog import HeuristicCall
from ecad.schedules.published import affected_steps, evenly_blocks, middle_blocks, tgate_bits

PIXART4 = ScheduleLayout.for_family("pixart-alpha", {"blocks": 4})
FLUX_SMALL = ScheduleLayout.for_family("flux-dev", {"double": 2, "single": 3})
PIXART = ScheduleLayout.for_family("pixart-alpha")


def _reused(schedule):
    """{(step, block, component)} of every False cell."""
    return {
        (int(t), schedule.layout.slots[c].block_key, schedule.layout.slots[c].component)
        for t, c in np.argwhere(~schedule.bits)
    }


@pytest.mark.parametrize(
    ("steps", "n", "expected"),
    [
        (20, 1, [10]),  # linspace(0, 21, 3) -> 10.5 -> ceil(9.5)
        (20, 3, [5, 10, 15]),  # 5.25, 10.5, 15.75
        (20, 19, list(range(1, 20))),  # 1.05 * i
        (4, 2, [1, 3]),  # 5/3, 10/3
        (4, 4, [0, 1, 2, 3]),  # 1, 2, 3, 4 -> ceil(p - 1) reaches step 0
    ],
)
def test_affected_steps(steps, n, expected):
    assert affected_steps(steps, n) == expected


@pytest.mark.parametrize(
    ("blocks", "n", "expected"),
    [(28, 1, [14]), (28, 3, [13, 14, 15]), (28, 4, [12, 13, 14, 15]), (5, 2, [1, 2])],
)
def test_middle_blocks(blocks, n, expected):
    assert middle_blocks(blocks, n) == expected
    assert middle_blocks(28, 27) == list(range(1, 28))


@pytest.mark.parametrize(
    ("blocks", "n", "expected"),
    [
        (28, 1, [0]),
        (28, 2, [0, 27]),
        (28, 3, [0, 14, 27]),  # 13.5 rounds to even 14
        (28, 5, [0, 7, 14, 20, 27]),  # 6.75, 13.5, 20.25
        (6, 3, [0, 2, 5]),  # 2.5 rounds to even 2
        (4, 3, [0, 2, 3]),  # 1.5 rounds to even 2
    ],
)
def test_evenly_blocks(blocks, n, expected):
    assert evenly_blocks(blocks, n) == expected


def test_placement_out_of_range_is_an_error():
    with pytest.raises(ConfigError, match=r"num_affected_blocks must be in 1\.\.28"):
        evenly_blocks(28, 29)
    with pytest.raises(ConfigError, match=r"num_affected_steps must be in 1\.\.20"):
        affected_steps(20, 0)


def test_evenly_cache_ca_on_four_blocks():
    s = HeuristicCall.parse("evenly_cache_ca_evenly_spaced:steps=2:blocks=2").build(PIXART4, 4)
    # steps [1, 3], blocks round(i * 3 / 1) = [0, 3], attn2 only
    assert _reused(s) == {(t, b, "attn2") for t in (1, 3) for b in ("0", "3")}
    assert s.metadata.attributes == {
        "heuristic": "evenly_cache_ca_evenly_spaced",
        "num_affected_steps": 2,
        "num_affected_blocks": 2,
    }


def test_middle_cache_sa_and_ff():
    s = HeuristicCall.of("middle_cache_sa_evenly_spaced", steps=1, blocks=2).build(PIXART4, 4)
    # step: linspace(0, 5, 3)[1] = 2.5 -> 2; blocks mid 2: 1..3 minus the last -> 1, 2
    assert _reused(s) == {(2, "1", "attn1"), (2, "2", "attn1")}
    s = HeuristicCall.of("middle_cache_ff_evenly_spaced", steps=1, blocks=3).build(PIXART4, 4)
    assert _reused(s) == {(2, b, "ff") for b in ("1", "2", "3")}


def test_flux_evenly_spaced_counts_double_then_single_blocks():
    s = HeuristicCall.of("evenly_cache_mlp_ff_evenly_spaced", steps=1, blocks=3).build(
        FLUX_SMALL, 4
    )
    # 5 blocks in all (2 double + 3 single): round(i * 4 / 2) = 0, 2, 4 -> double 0, single 0, 2
    assert _reused(s) == {
        (2, "0", "full_ff"),
        (2, "0", "full_ff_context"),
        *(
            (2, b, c)
            for b in ("single_0", "single_2")
            for c in ("single_proj_mlp", "single_proj_out")
        ),
    }
    s = HeuristicCall.of("evenly_cache_single_full_attn_evenly_spaced", steps=1, blocks=2).build(
        FLUX_SMALL, 4
    )
    assert _reused(s) == {(2, "0", "full_attn"), (2, "single_2", "single_attn")}


def test_every_n_kinds():
    fora = HeuristicCall.of("recompute_all_every_n", n=3).build(PIXART4, 7)
    assert [bool(r.all()) for r in fora.bits] == [t % 3 == 0 for t in range(7)]
    assert not fora.bits[[1, 2, 4, 5]].any()
    casa = HeuristicCall.of("recompute_ca_sa_every_n", n=2).build(PIXART4, 4)
    assert _reused(casa) == {
        (t, str(b), c) for t in (1, 3) for b in range(4) for c in ("attn1", "attn2")
    }
    attn = HeuristicCall.of("recompute_attn_every_n", n=2).build(FLUX_SMALL, 3)
    assert {c for _, _, c in _reused(attn)} == {"full_attn", "single_attn"}
    assert {t for t, _, _ in _reused(attn)} == {1}
    assert HeuristicCall.of("default").build(PIXART4, 5).bits.all()


def test_tgate_bits_by_hand():
    bits = tgate_bits(PIXART4, 8, m=5, k=3)
    col = {
        c: PIXART4.slots.index(next(s for s in PIXART4.slots if s.component == c))
        for c in ("attn1", "attn2", "ff")
    }
    # attn1: warm-up 0, 1; then step % 3 == 0 before the gate; every step from the gate
    assert bits[:, col["attn1"]].tolist() == [True, True, False, True, False, True, True, True]
    assert bits[:, col["attn2"]].tolist() == [True] * 5 + [False] * 3
    assert bits[:, col["ff"]].all()


def test_tgate_with_and_without_averaging():
    true = HeuristicCall.of("tgate", m=10, k=3).build(PIXART, 20)
    plain = HeuristicCall.parse("tgate_without_ca_avg:10:3").build(PIXART, 20)
    assert np.array_equal(true.bits, plain.bits)
    assert true.custom_attention.gate_step == 10 and plain.custom_attention is None
    assert true != plain and true.digest() != plain.digest()
    assert plain.genome().shape == (1680,)
    with pytest.raises(ConfigError, match="cannot be a member of a search population"):
        true.genome()


def test_generator_reproduces_the_published_true_tgate_files(reference_dir):
    """gen_tgate's six files and the gate-step-20 ones of gen_tgate_m_k_expanded."""
    files = sorted((reference_dir / "schedules/alpha_cache_schedules").glob("gen_tgate*/*.json"))
    assert {p.parent.name for p in files} == {"gen_tgate", "gen_tgate_m_k_expanded"}
    for path in files:
        published = read_schedule(path)
        attrs = published.metadata.attributes
        made = HeuristicCall.of("tgate", m=attrs["gate_step"], k=attrs["sp_interval"]).build(
            PIXART, 20
        )
        doc, original = schedule_to_json(made), json.loads(path.read_text())
        assert doc["cache_schedule"] == original["cache_schedule"], path.name
        assert doc["config"] == original["config"]
        assert made == published


def test_catalog_parse_forms_and_errors():
    a = HeuristicCall.parse("evenly_cache_ff_evenly_spaced:9:3")
    b = HeuristicCall.parse(
        {"name": "evenly_cache_ff_evenly_spaced", "num_affected_blocks": 3, "num_affected_steps": 9}
    )
    assert a == b and str(a) == "evenly_cache_ff_evenly_spaced:9:3"
    assert HeuristicCall.parse("random:0.3").params == (("p_reuse", 0.3),)
    with pytest.raises(ConfigError, match="'fora2:3': unknown heuristic 'fora2'"):
        HeuristicCall.parse("fora2:3")
    with pytest.raises(ConfigError, match=r"tgate takes 2 argument\(s\): tgate:m:k, got 1"):
        HeuristicCall.parse("tgate:10")
    with pytest.raises(ConfigError, match="needs a cross-attention component; flux-dev has none"):
        HeuristicCall.parse("tgate_without_ca_avg:10:1").build(FLUX_SMALL, 20)
    with pytest.raises(ConfigError, match="pixart families, not flux-dev"):
        HeuristicCall.parse("recompute_ca_sa_every_n:2").build(FLUX_SMALL, 20)
