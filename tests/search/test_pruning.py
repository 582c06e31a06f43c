"""The pruning rule: what it may prune, what it never prunes, determinism, config validation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ecad.errors import ConfigError
from ecad.search.objectives import nondominated
from ecad.search.pruning import (
    PruningConfig,
    QualityFront,
    decide,
    estimate,
    first_look,
    oriented_qualities,
    parse_pruning,
    t_quantile,
    wrong_prune_bound,
)

ON = PruningConfig(enabled=True, z=2.5, margin=0.0, min_shards=2)
SHARDS, SHARD_SIZE = 8, 8
IMAGES = SHARDS * SHARD_SIZE

# A front of fully evaluated members: (quality, relative cost).
FRONT_MEMBERS = [(0.60, 0.30), (0.75, 0.50), (0.90, 0.80)]
FRONT = QualityFront.from_members(FRONT_MEMBERS)


def images_with_mean(rng: np.random.Generator, mean: float, std: float = 0.1) -> np.ndarray:
    """``IMAGES`` per-image qualities whose mean is exactly ``mean`` (a known full quality)."""
    values = rng.normal(0.0, std, IMAGES)
    return values - values.mean() + mean


def shards_of(values: np.ndarray) -> dict[int, np.ndarray]:
    return {s: values[s * SHARD_SIZE : (s + 1) * SHARD_SIZE] for s in range(SHARDS)}


def prefix(values: np.ndarray, k: int) -> dict[int, np.ndarray]:
    return {s: v for s, v in shards_of(values).items() if s < k}


def run(values: np.ndarray, cost: float, k: int = SHARDS, config=ON) -> object:
    return decide(config, cost, prefix(values, k), SHARDS, IMAGES, FRONT)


# --- the front as a step function ------------------------------------------------------------


def test_front_is_the_best_quality_at_no_higher_cost():
    front = QualityFront.from_members([(0.9, 0.8), (0.5, 0.6), (0.7, 0.5)])
    assert front.best_at(0.4) is None
    assert front.best_at(0.5) == 0.7  # a member at exactly the candidate's cost counts
    assert front.best_at(0.6) == 0.7  # a worse, costlier member never lowers the step
    assert front.best_at(0.79) == 0.7
    assert front.best_at(2.0) == 0.9
    assert QualityFront.from_members([]).best_at(1.0) is None


# --- the estimate ----------------------------------------------------------------------------


def test_estimate_uses_the_finite_population_correction():
    values = np.array([1.0, 2.0, 3.0, 4.0])
    mean, se = estimate(values, 8)
    assert mean == 2.5
    assert se == pytest.approx(np.std(values, ddof=1) / 2 * math.sqrt(4 / 7))
    assert estimate(values, 4) == (2.5, 0.0)  # every image seen: the mean is exact
    with pytest.raises(ValueError, match="n=1"):
        estimate(np.array([1.0]), 8)


def test_oriented_qualities_turns_lower_is_better_scores_around():
    assert oriented_qualities([0.1, "inf"], True).tolist() == [0.1, math.inf]
    assert oriented_qualities([0.1, 0.3], False).tolist() == [-0.1, -0.3]  # LPIPS


# --- never prunes what the front would keep ----------------------------------------------------


def test_constructed_case_prunes_only_candidates_off_the_final_front():
    rng = np.random.default_rng(7)
    # (full quality, cost): on the front or beyond it, near ties, and clearly dominated ones.
    cases = [
        (0.62, 0.30), (0.60, 0.35), (0.76, 0.55), (0.75, 0.50), (0.95, 0.90), (0.80, 0.60),
        (0.74, 0.55), (0.40, 0.50), (0.30, 0.90), (0.20, 0.35), (0.50, 0.85),
    ]  # fmt: skip
    values = [images_with_mean(rng, q, std=0.1) for q, _ in cases]
    F = np.array([(1 - q, c) for q, c in FRONT_MEMBERS + cases])  # objectives, minimised
    on_front = {i - len(FRONT_MEMBERS) for i in nondominated(F)} - set(range(-3, 0))
    ties = {i for i, (q, c) in enumerate(cases) if q >= FRONT.best_at(c)}
    assert on_front and on_front <= ties
    for i, (_, cost) in enumerate(cases):
        for k in range(SHARDS + 1):
            decision = run(values[i], cost, k)
            if i in ties:
                assert not decision.prune, (i, k, decision.reason)
    for i in (7, 8, 9, 10):  # far below the front at their cost: stopped at min_shards
        decision = run(values[i], cases[i][1])
        assert decision.prune and decision.shards_used == ON.min_shards, decision.reason
        assert decision.images_used == ON.min_shards * SHARD_SIZE


def test_wrong_prunes_of_a_candidate_tying_the_front_stay_under_the_bound():
    # Worst case for the guarantee: the full mean equals the front at its cost. Which images land
    # in which shard is the only randomness, as for a fixed image set sampled without replacement.
    rng = np.random.default_rng(0)
    trials, pruned = 2000, 0
    for _ in range(trials):
        values = images_with_mean(rng, FRONT.best_at(0.55), std=0.2)
        pruned += run(values, 0.55).prune
    bound = wrong_prune_bound(ON, SHARDS)
    assert bound == pytest.approx(6 * 0.5 * math.erfc(2.5 / math.sqrt(2)))
    assert pruned / trials <= bound


def test_a_pruned_estimate_is_strictly_dominated_by_a_front_member():
    rng = np.random.default_rng(3)
    for q in np.linspace(0.3, 0.75, 10):
        decision = run(images_with_mean(rng, q, std=0.15), 0.6)
        if decision.prune:
            F = np.array([(1 - fq, c) for fq, c in FRONT_MEMBERS] + [(1 - decision.estimate, 0.6)])
            assert len(FRONT_MEMBERS) not in set(nondominated(F))
            assert decision.estimate <= decision.optimistic < decision.front_quality


def test_no_pruning_before_min_shards_without_a_front_or_when_off():
    values = images_with_mean(np.random.default_rng(1), 0.1)
    assert not run(values, 0.6, k=1).prune
    assert "min_shards=2" in run(values, 0.6, k=1).reason
    assert not run(values, 0.6, config=PruningConfig()).prune  # off by default
    assert not run(values, 0.2).prune  # no front member that cheap
    assert "no front member" in run(values, 0.2, k=3).reason
    margin = PruningConfig(enabled=True, z=0.0, margin=1.0)
    assert not run(values, 0.6, config=margin).prune  # 0.75 > 0.1 + 1.0 is false


def test_a_complete_candidate_is_never_pruned_and_its_estimate_is_exact():
    values = images_with_mean(np.random.default_rng(2), 0.9)
    decision = run(values, 0.6)
    assert not decision.prune and decision.shards_used == SHARDS
    assert decision.standard_error == 0.0 and decision.estimate == pytest.approx(0.9)


def test_non_finite_scores_are_not_judged():
    values = images_with_mean(np.random.default_rng(2), 0.1)
    values[3] = math.inf
    decision = run(values, 0.6, k=3)
    assert not decision.prune and "non-finite" in decision.reason


# --- determinism -------------------------------------------------------------------------------


def test_same_inputs_same_decision_whatever_the_arrival_order():
    values = images_with_mean(np.random.default_rng(5), 0.5, std=0.3)
    shards = shards_of(values)
    forward = decide(ON, 0.6, shards, SHARDS, IMAGES, FRONT)
    backward = decide(ON, 0.6, dict(reversed(shards.items())), SHARDS, IMAGES, FRONT)
    assert forward == backward == decide(ON, 0.6, shards, SHARDS, IMAGES, FRONT)


def test_only_the_completed_prefix_counts():
    values = images_with_mean(np.random.default_rng(6), 0.1)
    gap = {s: v for s, v in shards_of(values).items() if s != 1}  # shard 1 still running
    decision = decide(ON, 0.6, gap, SHARDS, IMAGES, FRONT)
    assert decision.shards_used == 1 and not decision.prune
    assert decide(ON, 0.6, {}, SHARDS, IMAGES, FRONT).shards_used == 0


def test_the_first_pruning_point_is_kept_when_more_shards_land():
    # A candidate that looks good at first and poor later: asked after each shard or once at the
    # end, the answer is the first prefix that prunes, with that prefix's estimate.
    rng = np.random.default_rng(4)
    values = np.concatenate([rng.normal(0.80, 0.02, 2 * SHARD_SIZE), rng.normal(0.2, 0.02, 48)])
    per_shard = [run(values, 0.6, k) for k in range(1, SHARDS + 1)]
    first = next(d for d in per_shard if d.prune)
    assert first.shards_used > ON.min_shards
    assert all(d == first for d in per_shard[first.shards_used - 1 :])
    assert not any(d.prune for d in per_shard[: first.shards_used - 1])


# --- configuration -----------------------------------------------------------------------------


def test_config_defaults_and_spec_section():
    assert PruningConfig.from_spec(None) == PruningConfig()
    assert not PruningConfig().enabled
    cfg = PruningConfig.from_spec({"enabled": True, "z": 3, "margin": 0.5, "min_shards": 3})
    assert cfg == PruningConfig(enabled=True, z=3.0, margin=0.5, min_shards=3)
    assert PruningConfig.from_spec(cfg.to_json()) == cfg


def test_config_errors_name_every_field_and_its_range():
    with pytest.raises(ConfigError) as err:
        PruningConfig.from_spec({"enabled": "yes", "z": -1, "margin": math.nan, "min_shards": 0,
                                 "zz": 1})  # fmt: skip
    message = str(err.value)
    assert "5 error(s)" in message
    assert "pruning.zz: unknown field; allowed: ['enabled', 'z', 'margin', 'min_shards']" in message
    assert "pruning.enabled: must be true or false, got 'yes'" in message
    assert "pruning.z: must be a number in [0, 4]" in message and "got -1" in message
    assert "pruning.margin: must be a number >= 0 (quality units), got nan" in message
    assert "pruning.min_shards: must be an integer >= 1, got 0" in message
    config, errors = parse_pruning([], where="search.pruning")
    assert config == PruningConfig() and errors[0].startswith("search.pruning: must be a mapping")
    with pytest.raises(ConfigError, match=r"min_shards: must be an integer >= 1, got 1\.5"):
        PruningConfig(min_shards=1.5)
    with pytest.raises(ConfigError, match="z: must be a number in"):
        PruningConfig(z=True)


def test_t_quantile_matches_student_t_where_decisions_are_made():
    stats = pytest.importorskip("scipy.stats")
    for z in (0.5, 1.5, 2.5, 3.0, 4.0):
        for dof in (7, 15, 63, 999):
            exact = stats.t.ppf(stats.norm.cdf(z), dof)
            assert t_quantile(z, dof) == pytest.approx(exact, rel=0.006)


# --- the paired form ---------------------------------------------------------------------------


def paired_case(rng: np.random.Generator, gap: float) -> tuple[np.ndarray, np.ndarray]:
    """A leader and a candidate on the same images: a large per-image difficulty common to both
    (what makes an image hard for one schedule makes it hard for the other), a small individual
    part; the candidate's full mean is exactly ``gap`` above the leader's."""
    difficulty = rng.normal(0.0, 0.3, IMAGES)
    leader = images_with_mean(rng, 0.0, std=0.02) + difficulty
    leader += 0.75 - leader.mean()  # the front member leading at cost 0.6 (FRONT: 0.75)
    cand = leader + images_with_mean(rng, gap, std=0.03)
    return leader, cand


def test_pairing_with_the_leader_stops_a_dominated_candidate_far_sooner():
    leader, cand = paired_case(np.random.default_rng(11), gap=-0.05)
    unpaired = decide(ON, 0.6, shards_of(cand), SHARDS, IMAGES, FRONT)
    paired = decide(ON, 0.6, shards_of(cand), SHARDS, IMAGES, FRONT, shards_of(leader))
    assert paired.prune and paired.shards_used == ON.min_shards, paired.reason
    assert "paired" in paired.reason
    assert not unpaired.prune or unpaired.shards_used > paired.shards_used
    # The control-variate estimate: the leader's exact quality plus the mean difference.
    done = ON.min_shards * SHARD_SIZE
    assert paired.estimate == pytest.approx(0.75 + float(np.mean(cand[:done] - leader[:done])))
    assert paired.standard_error < 0.2 * estimate(cand[:done], IMAGES)[1]


def test_paired_wrong_prunes_of_a_tie_stay_under_the_bound():
    rng = np.random.default_rng(12)
    trials = 1000
    pruned = sum(
        decide(ON, 0.6, shards_of(c), SHARDS, IMAGES, FRONT, shards_of(lead)).prune
        for lead, c in (paired_case(rng, gap=0.0) for _ in range(trials))
    )
    assert pruned / trials <= wrong_prune_bound(ON, SHARDS)


def test_pairing_falls_back_to_the_candidate_alone_when_it_cannot_pair():
    leader, cand = paired_case(np.random.default_rng(13), gap=-0.05)
    alone = decide(ON, 0.6, shards_of(cand), SHARDS, IMAGES, FRONT)
    other = shards_of(leader + 0.1)  # not the member whose quality the front reaches
    short = {s: v for s, v in shards_of(leader).items() if s < SHARDS - 1}  # a shard missing
    broken = shards_of(np.where(np.arange(IMAGES) == 5, math.inf, leader))
    for bad in (other, short, broken):
        assert decide(ON, 0.6, shards_of(cand), SHARDS, IMAGES, FRONT, bad) == alone


def test_the_front_names_its_leader_at_each_cost():
    front = QualityFront.from_members([(0.9, 0.8, "a"), (0.5, 0.6, "b"), (0.7, 0.5, "c")])
    assert front.leader_at(0.4) is None
    assert front.leader_at(0.65) == (0.7, "c")  # the cheaper, better member leads
    assert front.leader_at(0.8) == (0.9, "a")


def test_first_look_needs_min_shards_and_enough_images():
    assert first_look(PruningConfig(enabled=True, min_shards=1), [4] * 8) == 2  # 8 images
    assert first_look(PruningConfig(enabled=True, min_shards=1), [8] * 8) == 1
    assert first_look(PruningConfig(enabled=True, min_shards=3), [8] * 8) == 3
    assert first_look(PruningConfig(enabled=True, min_shards=9), [8] * 8) == 8
