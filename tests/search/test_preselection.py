"""Pre-selection's parts on their own: the spec section, the predictor, the choice."""

from __future__ import annotations

import numpy as np
import pytest

from ecad.errors import ConfigError
from ecad.search import load_spec
from ecad.search.objectives import hypervolume, nondominated
from ecad.search.preselection import (
    PredictorInfo,
    PreselectionConfig,
    PreselectionRecord,
    QualityPredictor,
    SourceInfo,
    choose,
    hypervolume_gain,
    parse_preselection,
)
from tests.search.conftest import write_spec


def test_off_by_default_and_ids_unchanged(tmp_path):
    off = load_spec(write_spec(tmp_path))
    on = load_spec(write_spec(tmp_path, preselection={"enabled": True, "factor": 3}))
    assert not off.preselection.enabled and "preselection" not in off.to_json()
    assert on.preselection == PreselectionConfig(enabled=True, factor=3)
    assert on.to_json()["preselection"]["factor"] == 3
    assert on.search_id() != off.search_id()


@pytest.mark.parametrize(
    ("section", "message"),
    [
        (
            {"enabled": True, "factr": 3},
            "preselection.factr: unknown field; did you mean 'factor'?",
        ),
        ({"factor": 1}, "preselection.factor: must be an integer in [2, 64], got 1"),
        ({"exploration": 1.0}, "preselection.exploration: must be a number in [0, 1), got 1.0"),
        ({"evaluate": 0}, "preselection.evaluate: must be an integer >= 1"),
        ({"enabled": "yes"}, "preselection.enabled: must be true or false"),
        (
            {"min_history": 10, "max_history": 5},
            "preselection.max_history: must be an integer >= min_history (10)",
        ),
        ({"evaluate": 25}, "preselection.evaluate: 25 is more than the 24 offspring proposed"),
        ("on", "preselection: must be a mapping like"),
    ],
)
def test_bad_sections_are_refused_naming_the_field(tmp_path, section, message):
    with pytest.raises(ConfigError) as err:
        load_spec(write_spec(tmp_path, population=6, preselection=section))
    assert message in str(err.value)
    assert parse_preselection(section, 6)[1], "the parser reports it too"


def test_predictor_ranks_a_smooth_quality_and_is_deterministic():
    rng = np.random.default_rng(0)
    steps, slots = 6, 6
    X = rng.random((60, steps * slots)) < 0.6
    w = np.linspace(0.2, 1.0, slots)

    def truth(X):
        reuse = ~X.reshape(len(X), steps, slots)[:, 1:, :]
        return 30.0 - (reuse * w).sum(axis=(1, 2))

    p = QualityPredictor(steps).fit(X[:40], truth(X[:40]), np.ones(40))
    mean, std = p.predict(X[40:])
    assert (
        np.corrcoef(np.argsort(np.argsort(mean)), np.argsort(np.argsort(truth(X[40:]))))[0, 1] > 0.9
    )
    assert np.all(std > 0)
    again = QualityPredictor(steps).fit(X[:40], truth(X[:40]), np.ones(40)).predict(X[40:])
    assert np.array_equal(again[0], mean) and np.array_equal(again[1], std)
    assert p.info is not None
    assert p.info.rows == 40 and p.info.loo_rank_correlation > 0.9


def test_predictor_fits_and_predicts_on_one_blas_thread(monkeypatch):
    """Whatever the process allows (two BLAS threads here), the fit's and the prediction's BLAS
    calls run on one: the scheduler's CPU time per generation does not multiply with threads."""
    from threadpoolctl import threadpool_info, threadpool_limits

    seen = []

    def blas_threads():
        return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]

    real_eigh, real_sqrt = np.linalg.eigh, np.sqrt
    monkeypatch.setattr(np.linalg, "eigh", lambda *a, **k: seen.append(blas_threads())
                        or real_eigh(*a, **k))
    rng = np.random.default_rng(0)
    X = rng.random((30, 36)) < 0.6
    with threadpool_limits(limits=2, user_api="blas"):
        assert blas_threads() and max(blas_threads()) == 2
        p = QualityPredictor(6).fit(X[:20], rng.random(20), np.ones(20))
        monkeypatch.setattr(np, "sqrt", lambda *a, **k: seen.append(blas_threads())
                            or real_sqrt(*a, **k))
        p.predict(X[20:])
        monkeypatch.setattr(np, "sqrt", real_sqrt)
        assert max(blas_threads()) == 2  # the process's own setting, restored
    assert len(seen) >= 2 and all(threads == [1] * len(threads) for threads in seen)


def test_hypervolume_gain_is_the_exact_difference():
    rng = np.random.default_rng(1)
    ref = np.array([1.0, 1.05])  # (cost, 1 - quality) order
    front = rng.random((6, 2))
    front = front[nondominated(front)]
    points = rng.random((40, 2))
    gain = hypervolume_gain(points, front, ref)
    for p, g in zip(points, gain):
        assert g == pytest.approx(hypervolume(np.r_[front, [p]], ref) - hypervolume(front, ref))


def test_exact_predictions_choose_nothing_the_front_dominates():
    """Known qualities as predictions: every proposal not dominated by the parents' front is
    chosen before any dominated one."""
    rng = np.random.default_rng(2)
    ref = np.array([1.0, 1.05])  # the search's order: (1 - quality, cost)
    front = np.array([[0.2, 0.9], [0.5, 0.5], [0.8, 0.2]])
    for _ in range(20):
        cost = rng.random(24)
        quality = 1.0 - rng.random(24)
        F = np.c_[1 - quality, cost]
        free = [
            i
            for i in range(24)
            if not np.any(np.all(front <= F[i], axis=1) & np.any(front < F[i], axis=1))
        ]
        choice = choose(
            quality, np.full(24, 0.1), cost, np.ones(24, bool), front, ref, n=6, exploration=0.0
        )
        expected = min(6, len(free))
        assert set(choice.chosen[:expected]) <= set(free), (choice, free)
        assert len(choice.chosen) == 6 and len(set(choice.chosen)) == 6


def test_choice_without_predictor_and_with_infeasible_proposals():
    ref = np.array([1.0, 1.05])
    feasible = np.array([False, True, True, False, True])
    c = choose(None, None, np.linspace(0, 1, 5), feasible, np.zeros((0, 2)), ref, 4, 0.25)
    assert c.chosen == (1, 2, 4, 0) and c.kinds == ("order",) * 4
    c = choose(
        np.zeros(5), np.arange(5.0), np.linspace(0, 1, 5), feasible, np.zeros((0, 2)), ref, 4, 0.5
    )
    assert c.chosen[-1] == 0 and c.kinds[-1] == "infeasible"
    assert "explore" in c.kinds and set(c.chosen[:3]) == {1, 2, 4}


def test_record_round_trips():
    rec = PreselectionRecord(
        generation=3,
        chosen=(2, 0),
        kinds=("gain", "explore"),
        cost=(0.5, 0.6, 0.7),
        feasible=(True, True, False),
        predicted=(1.0, 2.0, 3.0),
        uncertainty=(0.1, 0.2, 0.3),
        predictor=PredictorInfo(
            features=("reuse_fraction",),
            n_features=1,
            model="ridge",
            alpha=0.5,
            rows=9,
            noise_sd=0.1,
            loo_rank_correlation=None,
            rows_full=8,
            rows_partial=1,
            refit="every generation",
            source=SourceInfo("other", 4, 3),
        ),
        cpu_seconds=0.01,
    )
    assert PreselectionRecord.from_json(rec.to_json()) == rec
    assert rec.to_json()["proposed"] == 3 and rec.to_json()["evaluated"] == 2
