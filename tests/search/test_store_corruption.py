"""The store-corruption suite, in process: each object kind x {truncated, wrong shape, garbage}.

Derived objects (evaluation records, score records, candidate and reference images, prompt
embeddings, progress) heal: ``ecad search`` (the runner) deletes and redoes them and finds the
same front. Authoritative objects (state, spec, cost table; a spec over the limits) mark their
search failed with the reason; the scheduler service goes on with a second search on the same
store, which finishes with the same front as when run alone; ``ecad status`` reports the
failed search alone, ``pareto``/``report`` give one error line. The cluster (real processes)
variant of a representative subset is in ``tests/integration/test_recovery.py``.
"""

from __future__ import annotations

import io
import json
import logging
import math
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from ecad.cli.errors import EXIT_RUNTIME, run_cli
from ecad.cli.main import cli
from ecad.scheduler.dispatch import Dispatcher
from ecad.scheduler.service import SchedulerService
from ecad.search import SearchSession, load_spec, run_search
from ecad.search.markers import failure_reason
from ecad.store import FilesystemStore
from ecad.store.keys import (
    cost_table_key,
    embeddings_key,
    evaluation_record_key,
    generation_record_key,
    image_key,
    progress_key,
    score_key,
    spec_key,
    state_key,
)
from tests.search.conftest import write_spec

MODES = ["truncated", "wrong-shape", "garbage"]


def _other_png() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (8, 8)).save(out, format="PNG")
    return out.getvalue()


def corrupt(store: FilesystemStore, key: str, mode: str) -> None:
    data = store.get(key)
    if mode == "truncated":
        new = data[: len(data) // 2]
    elif mode == "wrong-shape":  # well-formed, but not the object: JSON of another shape, a
        new = _other_png() if key.endswith(".png") else b"[]"  # PNG of another image
    else:
        new = bytes(range(256)) * 3
    store.put(key, new)


# "valid JSON, wrong meaning": each parses, has the right shape, and is no such record
def _scores_set(value):
    return lambda d: d.update(scores=[value] * len(d["scores"]))


MEANINGS = {
    "score": {
        "nan": _scores_set(math.nan),
        "inf": _scores_set(math.inf),
        "minus-inf": _scores_set(-math.inf),
        "out-of-range": _scores_set(1e6),
        "nan-string": _scores_set("NaN"),
        "too-few": lambda d: d.update(pairs=d["pairs"][:-1], scores=d["scores"][:-1]),
        "too-many": lambda d: d.update(pairs=[*d["pairs"], [0, 0]], scores=[*d["scores"], 1.0]),
        "wrong-direction": lambda d: d.update(higher_is_better=not d["higher_is_better"]),
    },
    "evaluation": {
        "nan": lambda d: d.update(quality=math.nan),
        "inf": lambda d: d.update(quality=math.inf),
        "out-of-range": lambda d: d.update(quality=1e6),
        "per-prompt-nan": lambda d: d.update(per_prompt={k: math.nan for k in d["per_prompt"]}),
        "wrong-count": lambda d: d.update(num_images=d["num_images"] + 1),
        "wrong-direction": lambda d: d.update(higher_is_better=not d["higher_is_better"]),
    },
    # authoritative objects: the search is marked failed (test_authoritative_... below)
    "state": {
        "negative-generation": lambda d: d.update(generation=-1),
        "negative-count": lambda d: d["counters"].update(evaluated=-5),
    },
    "spec": {
        "nan-guidance": lambda d: d.update(guidance=math.nan),
        "inf-hv-reference": lambda d: d["quality"].update(hv_reference=math.inf),
        "probability-above-1": lambda d: d["crossover"].update(prob=2.0),
    },
    "cost-table": {
        "nan-cost": lambda d: d["slot_costs"].__setitem__(0, math.nan),
        "negative-cost": lambda d: d["slot_costs"].__setitem__(0, -1.0),
        "inf-base": lambda d: d.update(base=math.inf),
    },
    "generation": {
        "nan-objective": lambda d: d["population"]["F"][0].__setitem__(0, math.nan),
        "short-row": lambda d: d["population"]["F"][0].pop(),
    },
}


def mislead(store: FilesystemStore, key: str, kind: str, meaning: str) -> None:
    """Rewrite ``key`` as valid JSON (``NaN``/``Infinity`` literals included) of the right
    shape whose meaning is wrong."""
    data = json.loads(store.get(key))
    MEANINGS[kind][meaning](data)
    store.put(key, json.dumps(data).encode())


def front_of(session: SearchSession) -> list[tuple]:
    return [(m.schedule.digest(), m.quality, m.relative_cost) for m in session.front()]


# derived objects: healed by ecad search ------------------------------------------------------
@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished local search (the tiny model, fidelity scorer) and its front."""
    tmp = tmp_path_factory.mktemp("finished")
    spec = load_spec(write_spec(tmp, population=4, generations=1))
    store = FilesystemStore(tmp / "store")
    session = run_search(store, spec, progress=lambda _: None)
    return tmp, session.search_id, front_of(session)


def _front_candidate(session: SearchSession):
    """The candidate of the first front member (its quality shapes the front)."""
    last = session.last_record()
    index = session.front()[0].index
    return session.plan.candidates([last.population.X[index]], 0)[0]


def _prepare(store: FilesystemStore, session: SearchSession, kind: str) -> str:
    """Remove what would let the run skip the object of ``kind``; return the key to corrupt."""
    cand = _front_candidate(session)
    ev = cand.evaluation_key
    if kind == "evaluation":
        return evaluation_record_key(ev)
    store.delete(evaluation_record_key(ev))
    if kind == "score":
        return session.plan.score_key(ev, 0)
    store.delete(session.plan.score_key(ev, 0))
    if kind == "image":
        return image_key(cand.generation_key, *session.plan.shards[0][0])
    if kind == "reference-image":
        ref = session.plan.reference
        return image_key(ref.generation_key, *session.plan.shards[0][0])
    assert kind == "embeddings"
    store.delete(session.plan.marker_key(cand.generation_key, 0))
    return embeddings_key(session.setting.embeddings_key())


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "kind", ["evaluation", "score", "image", "reference-image", "embeddings"]
)
def test_derived_object_is_redone_by_search(finished, tmp_path, caplog, kind, mode):
    _redone(finished, tmp_path, caplog, kind, lambda store, key: corrupt(store, key, mode))


@pytest.mark.parametrize(
    ("kind", "meaning"), [(k, m) for k in ("score", "evaluation") for m in MEANINGS[k]]
)
def test_derived_record_with_a_wrong_meaning_is_redone(finished, tmp_path, caplog, kind, meaning):
    # issue 27 #1: a score shard holding [NaN, 1e6] was used, and changed the front
    _redone(finished, tmp_path, caplog, kind,
            lambda store, key: mislead(store, key, kind, meaning))


def _redone(finished, tmp_path, caplog, kind, damage) -> None:
    base, search_id, front = finished
    shutil.copytree(base / "store", tmp_path / "store")
    store = FilesystemStore(tmp_path / "store")
    key = _prepare(store, SearchSession.open(store, search_id), kind)
    original = store.get(key)
    damage(store, key)
    # The same candidates in a new search (another name): every evaluation is reused from the
    # store except the one whose object is broken, which is detected, deleted and redone.
    spec = load_spec(write_spec(tmp_path, name="again", population=4, generations=1))
    with caplog.at_level(logging.WARNING):
        session = run_search(store, spec, progress=lambda _: None)
    assert session.phase == "done" and session.counts.failed == 0
    assert front_of(session) == front, "the healed search finds the same front"
    assert any("deleting" in r.getMessage() for r in caplog.records), "detected"
    if kind == "embeddings":  # recomputed: readable again (not byte-identical)
        from ecad.families import get_family
        from ecad.generation import PromptEmbeddings

        PromptEmbeddings.from_bytes(store.get(key), get_family(spec.family), source=key)
    else:
        assert store.get(key) == original, "the object was deleted and written anew"


def test_corrupt_progress_record_is_rewritten_and_status_unaffected(finished, tmp_path):
    base, search_id, _front = finished
    shutil.copytree(base / "store", tmp_path / "store")
    store = FilesystemStore(tmp_path / "store")
    for mode in MODES:
        corrupt(store, progress_key(search_id), mode)
        out = CliRunner().invoke(cli, ["status", search_id, "--no-workers"],
                                 env={"ECAD_STORE": str(tmp_path / "store")})
        assert out.exit_code == 0 and f"{search_id}: done" in out.output, out.output


# authoritative objects: the search is marked failed, the other goes on ------------------------
def _scorer_sender(store: FilesystemStore, plans: dict):
    """A transport that 'runs' each task at once: a score record per image, a fixed function of
    the evaluation key (so a search finds the same front whatever else is in the store)."""

    def send(_name: str, args: list) -> None:
        msg = args[0]
        pairs = plans[msg["search_id"]].shards[msg["shard"]]
        value = int(msg["evaluation_key"][:6], 16) / 0xFFFFFF
        store.put_json(score_key(msg["evaluation_key"], msg["shard"], sharding=msg["layout"]), {
            "pairs": [list(p) for p in pairs], "scores": [value] * len(pairs),
            "higher_is_better": True})

    return send


def _specs(tmp_path: Path):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("".join(f"prompt {i}\n" for i in range(4)))
    common = dict(prompts={"file": str(prompts)}, quality={"scorer": "image-reward"},
                  population=4, generations=2, min_diff=0, shard_size=2)
    broken = load_spec(write_spec(tmp_path / "a", name="broken", seed=3, **common))
    healthy = load_spec(write_spec(tmp_path / "b", name="healthy", seed=5, **common))
    return broken, healthy


def _drive(store: FilesystemStore, sessions: list[SearchSession], service=None, ticks=60):
    plans = {s.search_id: s.plan for s in sessions}
    service = service or SchedulerService(store, Dispatcher(_scorer_sender(store, plans)))
    for _ in range(ticks):
        if not service.tick():
            return service
    raise AssertionError("the searches did not end")


@pytest.fixture(scope="module")
def healthy_alone(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("alone")
    _broken, healthy = _specs(tmp)
    store = FilesystemStore(tmp / "store")
    session, _ = SearchSession.create(store, healthy)
    _drive(store, [session])
    return front_of(SearchSession.open(store, session.search_id))


def _over_limit(store: FilesystemStore, key: str, _mode: str) -> None:
    data = json.loads(store.get(key))
    data["images_per_prompt"] = 10**12
    store.put_json(key, data)


@pytest.mark.parametrize(
    ("kind", "mode"),
    [(k, m) for k in ("state", "spec", "cost-table") for m in MODES]
    + [("spec", "over-limit")]
    + [(k, f"meaning:{m}") for k in ("state", "spec", "cost-table") for m in MEANINGS[k]],
)
def test_authoritative_object_fails_its_search_only(tmp_path, healthy_alone, caplog, kind, mode):
    broken_spec, healthy_spec = _specs(tmp_path)
    store_dir = tmp_path / "store"
    store = FilesystemStore(store_dir)
    broken, _ = SearchSession.create(store, broken_spec)
    healthy, _ = SearchSession.create(store, healthy_spec)
    plans = {s.search_id: s.plan for s in (broken, healthy)}
    service = SchedulerService(store, Dispatcher(_scorer_sender(store, plans)))
    service.tick()  # both under way
    key = {"state": state_key, "spec": spec_key, "cost-table": cost_table_key}[kind](
        broken.search_id)
    if mode.startswith("meaning:"):  # issue 27 #1: valid JSON, wrong meaning
        mislead(store, key, kind, mode.split(":", 1)[1])
    else:
        (_over_limit if mode == "over-limit" else corrupt)(store, key, mode)

    with caplog.at_level(logging.INFO, logger="ecad.scheduler.service"):
        _drive(store, [broken, healthy], service)
        # A restarted scheduler sees the marker and does not try again.
        _drive(store, [broken, healthy])
    reason = failure_reason(store, broken.search_id)
    assert reason is not None and reason.startswith(key), reason
    assert "images_per_prompt" in reason if mode == "over-limit" else True
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR
              and broken.search_id in r.getMessage()]
    assert len(errors) == 1, [r.getMessage() for r in errors]  # once, not per tick
    assert front_of(SearchSession.open(store, healthy.search_id)) == healthy_alone

    env = {"ECAD_STORE": str(store_dir)}
    out = CliRunner().invoke(cli, ["status", "--no-workers"], env=env)
    assert out.exit_code == EXIT_RUNTIME, out.output
    assert f"{broken.search_id}: failed: {key}" in out.output
    assert f"{healthy.search_id}: done" in out.output
    for command in ("pareto", "report", "cancel"):
        res = CliRunner().invoke(cli, [command, broken.search_id], env=env)
        if command == "cancel":  # the marker can be written even when state.json is broken
            assert res.exit_code == 0, res.output
            continue
        assert res.exit_code == EXIT_RUNTIME
        assert "Traceback" not in res.output


def test_corrupt_generation_record_gives_one_error_line(tmp_path, capsys, monkeypatch):
    _broken, healthy_spec = _specs(tmp_path)
    store_dir = tmp_path / "store"
    store = FilesystemStore(store_dir)
    session, _ = SearchSession.create(store, healthy_spec)
    _drive(store, [session])
    monkeypatch.setenv("ECAD_STORE", str(store_dir))
    monkeypatch.delenv("ECAD_CONFIG", raising=False)
    # an earlier generation's record: nothing else holds its population (issue 26: the latest
    # one is rebuilt from the state, tests/search/test_heal.py), so the report, which shows
    # every generation, names it; pareto (the latest front) does not need it
    key = generation_record_key(session.search_id, 1)
    original = store.get(key)
    for mode in [*MODES, *MEANINGS["generation"]]:
        store.put(key, original)
        if mode in MODES:
            corrupt(store, key, mode)
        else:  # issue 27 #1: valid JSON, wrong meaning
            mislead(store, key, "generation", mode)
        code = run_cli(cli, ["report", session.search_id, "-o", str(tmp_path / "r.html")])
        err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
        assert code == EXIT_RUNTIME and len(err) == 1, err
        assert err[0].startswith("error: ") and key in err[0]
        assert run_cli(cli, ["pareto", session.search_id]) == 0
        capsys.readouterr()
        _drive(store, [session])  # the scheduler leaves a finished search alone



@pytest.mark.parametrize("mode", MODES)
def test_status_lists_every_search_beside_an_unreadable_one(tmp_path, mode):
    # issue 27 #4: one search's last generation record replaced hides nothing else
    broken_spec, healthy_spec = _specs(tmp_path)
    store_dir = tmp_path / "store"
    store = FilesystemStore(store_dir)
    sessions = [SearchSession.create(store, s)[0] for s in (broken_spec, healthy_spec)]
    _drive(store, sessions)
    broken, healthy = (s.search_id for s in sessions)
    key = generation_record_key(broken, 2)
    corrupt(store, key, mode)
    # the latest record alone would be rebuilt from the state (issue 26); with an earlier one
    # gone too, its counts cannot be, and the search is unreadable
    store.delete(generation_record_key(broken, 1))
    out = CliRunner().invoke(cli, ["status", "--no-workers"], env={"ECAD_STORE": str(store_dir)})
    lines = out.output.splitlines()
    assert any(line.startswith(f"{healthy}: done") for line in lines), out.output
    mine = [line for line in lines if line.startswith(f"{broken}:")]
    assert len(mine) == 1 and key in mine[0] and "unreadable" in mine[0], out.output
    assert out.exit_code == EXIT_RUNTIME and "Traceback" not in out.output
