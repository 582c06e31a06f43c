"""Pre-selection in the search loop: a predictor that can rank spends evaluations on the front,
a useless one still lets the search converge, a killed search resumes to the same choices, and
work sent like a cluster's makes the same choices as in process.

Qualities are known in advance (:mod:`tests.search.known_scores`): either a smooth function of
the schedule (the predictor can learn it) or a hash of the candidate (it cannot)."""

from __future__ import annotations

import numpy as np
import pytest

from ecad.search import SearchSession
from ecad.search.driver import SearchDriver
from ecad.search.preselection.generation import read_preselection
from ecad.store import FilesystemStore
from ecad.store.keys import preselection_record_key
from tests.search import known_scores
from tests.search.known_scores import KnownScores, pruning_spec, run_known

PRESELECTION = {"enabled": True, "factor": 4, "evaluate": 4, "exploration": 0.0, "min_history": 6}


def _spec(tmp_path, pruning=False, **pre):
    return pruning_spec(tmp_path, pruning, generations=6, preselection={**PRESELECTION, **pre})


def _smooth(monkeypatch):
    """Quality a smooth function of the schedule: fewer reused cells, and reuse late in
    sampling rather than early, score higher (no noise)."""
    by_digest: dict[str, float] = {}
    original = known_scores.KnownScores.wait

    def wait(self):
        for work in self.queue.values():
            sched = work.candidate.schedule
            reuse = ~sched.effective()[1:]
            weight = np.linspace(2.0, 1.0, reuse.shape[0])[:, None]
            by_digest[work.candidate.digest] = 10.0 - float((reuse * weight).sum()) / 10
        return original(self)

    monkeypatch.setattr(known_scores.KnownScores, "wait", wait)
    monkeypatch.setattr(
        known_scores, "image_score", lambda digest, prompt, image: by_digest[digest]
    )
    return by_digest


def _records(session):
    return [read_preselection(session, g) for g in range(1, session.generation)]


def test_a_predictor_that_can_rank_evaluates_nothing_the_front_dominates(tmp_path, monkeypatch):
    truth = _smooth(monkeypatch)
    store = FilesystemStore(tmp_path / "store")
    session, _ = run_known(store, _spec(tmp_path))
    history = session.history()
    assert [len(r.offspring.X) for r in history] == [8] + [4] * 6
    for before, record, pre in zip(history, history[1:], _records(session)):
        assert pre.proposed == 32 and len(pre.chosen) == 4
        assert pre.predictor is not None and pre.predictor.rows >= 8
        # Measured, never predicted: the outcome holds the known qualities.
        cands = session.plan.candidates(record.offspring.X, record.generation)
        assert pre.outcome.measured == tuple(truth[c.digest] for c in cands)
        assert pre.outcome.rank_correlation > 0.9  # 1 but for ties among the known qualities
        # None of the evaluated offspring is dominated by the parents' front.
        F = np.asarray(before.population.F)[list(before.front)]
        for f in record.offspring.F:
            assert not np.any(np.all(f >= F, axis=1) & np.any(f > F, axis=1)), (f, F)
    assert history[-1].hypervolume > history[0].hypervolume


def test_a_useless_predictor_still_converges(tmp_path):
    """Hashed qualities: nothing to learn. The search still improves its front, whose members
    are fully evaluated with their exact qualities; the recorded rank correlation says the
    predictor is no use."""
    store = FilesystemStore(tmp_path / "store")
    session, _ = run_known(store, _spec(tmp_path, exploration=0.25))
    history = session.history()
    hv = [r.hypervolume for r in history]
    assert hv == sorted(hv) and hv[-1] > hv[0]
    rhos = [
        p.outcome.rank_correlation
        for p in _records(session)
        if p.outcome.rank_correlation is not None
    ]
    assert abs(float(np.mean(rhos))) < 0.6
    plan = session.plan
    for member in session.front():
        cand = plan.candidates([history[-1].population.X[member.index]], 0)[0]
        assert store.exists(f"evaluations/{cand.evaluation_key}.json")
        assert member.quality == pytest.approx(known_scores.true_quality(plan, cand.digest))


def _comparable(session):
    out = []
    for r in session.history():
        data = r.to_json()
        data.pop("seconds")
        data.pop("work")
        out.append(data)
    for g in range(1, session.generation):
        pre = session.store.get_json(preselection_record_key(session.search_id, g))
        pre.pop("cpu_seconds")
        out.append(pre)
    return out


@pytest.mark.parametrize("fraction", [0.4, 0.75])
def test_a_killed_and_resumed_search_makes_the_same_choices(tmp_path, fraction):
    spec = _spec(tmp_path, pruning=True, exploration=0.25)
    whole, ran = run_known(FilesystemStore(tmp_path / "whole"), spec)
    store = FilesystemStore(tmp_path / "killed")
    with pytest.raises(KeyboardInterrupt):
        run_known(store, spec, stop_after=int(fraction * len(ran)))
    assert 1 < SearchSession.open(store, spec.search_id()).generation < spec.generations
    resumed = SearchSession.open(store, spec.search_id())  # a fresh process: nothing in memory
    driver = SearchDriver(resumed, KnownScores(resumed, store))
    while driver.step():
        pass
    assert _comparable(resumed) == _comparable(whole)


def test_sent_like_a_cluster_the_same_choices(tmp_path):
    from tests.search.known_scores import QueuedKnownScores

    spec = _spec(tmp_path, pruning=True, exploration=0.25)
    local, _ = run_known(FilesystemStore(tmp_path / "local"), spec)
    store = FilesystemStore(tmp_path / "queued")
    session, _ = SearchSession.create(store, spec)
    driver = SearchDriver(session, QueuedKnownScores(session, store))
    while driver.step():
        pass
    assert _comparable(session) == _comparable(local)


def test_status_and_report_show_it_and_no_predicted_quality(tmp_path):
    from ecad.report.data import collect
    from ecad.report.page import render_page
    from ecad.search.status import search_status, status_line

    store = FilesystemStore(tmp_path / "store")
    session, _ = run_known(store, _spec(tmp_path, pruning=True, exploration=0.25))
    status = search_status(store, session.search_id)
    pre = status.preselection
    assert pre is not None
    assert pre.generations == 6 and (pre.proposed, pre.evaluated) == (32, 4)
    assert "pre-selection: 4 of 32 offspring evaluated, predictor rank correlation" in (
        status_line(status)
    )
    # ecad status (the CLI's snapshot): the same line, and the entry in its JSON.
    from ecad.cli.status_read import read_search
    from ecad.cli.status_view import head_line

    shown = read_search(store, session.search_id)
    assert head_line(shown) == status_line(status)
    assert shown.to_json()["preselection"]["evaluated"] == 4
    data = collect(session, prompts=1)
    assert [r.generation for r in data.preselection] == list(range(1, 7))
    assert all(r.rows and r.rows >= 8 for r in data.preselection)
    page = render_page(data)
    assert "<h3>Pre-selection</h3>" in page and "every quality on this page is measured" in page
    # The candidates shown are the evaluated offspring alone, with measured qualities.
    shown = {(c.generation, c.index) for c in data.candidates}
    assert shown == {
        (r.generation, i) for r in session.history() for i in range(len(r.offspring.X))
    }


def test_a_transfer_seeded_search_fits_on_its_source_as_well(tmp_path):
    """Seeded from another search's front: that search's stored evaluations (through the
    generations it had finished) join the training rows, with their own mean quality."""
    store = FilesystemStore(tmp_path / "store")
    first, _ = run_known(store, _spec(tmp_path))
    spec = pruning_spec(
        tmp_path,
        False,
        name="second",
        generations=3,
        initial_population={"from_search": first.search_id},
        preselection={**PRESELECTION, "min_history": 4},
    )
    second, _ = run_known(store, spec)
    own = [read_preselection(second, g).predictor for g in range(1, 4)]
    assert all(p is not None and p.source is not None for p in own)
    source_rows = own[0].source.rows
    assert own[0].source.search_id == first.search_id
    assert all(p.source.generations == first.generation for p in own)
    assert source_rows >= 8 + 4 * 6 - 4  # distinct genomes of its 7 generations
    assert own[0].rows == source_rows + 8
