import json
from types import SimpleNamespace

import numpy as np
import pytest

from ecad.search.nsga import Nsga2, pack_genomes, unpack_genomes
from ecad.search.nsga_state import NsgaSnapshot
from ecad.search.objectives import hypervolume, nondominated
from ecad.search.spec import CrossoverSpec, InitialPopulationSpec, MutationSpec

SPEC = SimpleNamespace(
    population=8,
    seed=5,
    crossover=CrossoverSpec(points=4, prob=0.9),
    mutation=MutationSpec(individual_prob=1.0, bit_prob=None),
    initial_population=InitialPopulationSpec("random"),
)


def _round_trip(snapshot: NsgaSnapshot) -> NsgaSnapshot:
    """Through JSON text, as the state file keeps it."""
    return NsgaSnapshot.from_json(json.loads(json.dumps(snapshot.to_json())))


def _objectives(X):
    F = np.stack([X[:, :30].mean(1) + 0.1 * X.mean(1), X.mean(1)], 1)
    G = (4 - (~X).sum(1))[:, None].astype(float)
    return F, G


def _run(generations, restart_after_ask=None):
    driver, pops = Nsga2(90, SPEC), []
    for g in range(generations):
        X = driver.ask()
        if g == restart_after_ask:  # crash between ask and tell: state as saved by the session
            driver = Nsga2.restore(_round_trip(driver.snapshot()), SPEC)
        driver.tell(X, *_objectives(X))
        driver = Nsga2.restore(_round_trip(driver.snapshot()), SPEC)
        pops.append(driver.population())
    return pops


def test_snapshot_restore_is_exact():
    plain = _run(6)
    restarted = _run(6, restart_after_ask=3)
    for (xa, fa, _), (xb, fb, _) in zip(plain, restarted):
        assert np.array_equal(xa, xb) and np.array_equal(fa, fb)


def test_seeded_initial_population_is_used():
    seeds = np.ones((3, 90), bool)
    seeds[:, :5] = False
    seeds[1, 10] = False
    seeds[2, 20] = False
    driver = Nsga2(90, SPEC, initial=seeds)
    X = driver.ask()
    assert len(X) == SPEC.population
    assert {tuple(r) for r in seeds} <= {tuple(r) for r in X}


def test_pack_round_trip():
    X = np.random.default_rng(0).random((4, 37)) > 0.5
    assert np.array_equal(unpack_genomes(pack_genomes(X), 37), X)


def test_hypervolume_and_front():
    F = np.array([[0.1, 0.9], [0.5, 0.5], [0.9, 0.1], [0.6, 0.6]])
    assert list(nondominated(F)) == [0, 1, 2]
    ref = np.array([1.0, 1.0])
    assert hypervolume(F, ref) == pytest.approx(0.9 * 0.1 + 0.5 * 0.4 + 0.1 * 0.4)
    assert hypervolume(np.array([[2.0, 0.1]]), ref) == 0.0
