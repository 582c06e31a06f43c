"""Bad input, tried as a careless or hostile user would, through the real ``ecad`` entry point.

Each case of issue 15's table (part A: #2, 3, 4, 7, 8, 9, 14, 15, 16, 17, 18, 19, 20) and a few
more: one ``error:`` line naming the file or field and the rule, the documented exit status
(2 for bad input, 1 for a runtime failure, see ``ecad/cli/errors.py``), no traceback, and
nothing written to the store. ``run_cli`` is what the console script runs; one test also runs
the console entry point as a subprocess.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import pytest

from ecad.cli.errors import EXIT_RUNTIME, EXIT_USAGE, run_cli
from ecad.cli.main import cli
from ecad.search import SearchSession, load_spec, run_search
from ecad.store import FilesystemStore
from tests.conftest import REFERENCE
from tests.search.conftest import REPO, write_spec

SCHEDULE = REFERENCE / "schedules/schedules_in_paper/pixart_alpha_256/ours_fast.json"
#: Generous bounds for work that must fail fast (idle: milliseconds, a few MB; see the report).
FAST_S = 10.0
SMALL_BYTES = 64 << 20


@pytest.fixture
def store_dir(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "store"
    monkeypatch.setenv("ECAD_STORE", str(path))
    monkeypatch.delenv("ECAD_CONFIG", raising=False)
    return path


def ecad(capsys, *args: str) -> tuple[int, str, str]:
    code = run_cli(cli, [str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_error(result: tuple[int, str, str], code: int, *needles: str) -> str:
    """Exit status ``code``, exactly one stderr line ``error: ...`` holding every needle."""
    status, _out, err = result
    assert status == code, err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


def _ecad_process(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """The console entry point in a process of its own."""
    return subprocess.run(
        [sys.executable, "-m", "ecad.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def stored_objects(store_dir: Path) -> list[Path]:
    return [p for p in store_dir.rglob("*") if p.is_file()] if store_dir.exists() else []


# --- the spec: validate and submit run the same checks -------------------------------------


@pytest.mark.parametrize("command", ["validate", "submit", "search"])
@pytest.mark.parametrize(
    "override, needles",
    [
        # 2: a resource bound, with the limit stated
        ("images_per_prompt=1000000000000", ("images_per_prompt: must be <= 100",)),
        ("population=100000000", ("population: must be <= 1000",)),
        ("shard_size=99999999", ("shard_size: must be <= 1000",)),
        ("generations=10000000000", ("generations: must be <= 100000",)),
        ("steps=100000", ("steps: must be <= 1000",)),
        # 3: a local weights directory that does not exist
        ("weights=/nonexistent/weights", ("weights: directory /nonexistent/weights",)),
        ("weights=a/b/c/d", ("weights: 'a/b/c/d' is neither an existing directory nor a hub id",)),
        # 7, 8, 14: names are a safe slug with a length limit
        ("name=sub/dir", ("name: 'sub/dir' is not a safe name", "no '/'")),
        ("name=../../etc/x", ("name: '../../etc/x' is not a safe name",)),
        ("name=" + "n" * 300, ("name: too long (300 characters; the limit is 64)",)),
        # 9: an override into a scalar
        ("population.x=1", ("override 'population.x=1': population is 6, not a section",)),
        ("=3", ("override '=3': use key=value",)),
        ("quality=[unclosed", ("override 'quality=[unclosed': not valid YAML",)),
        # 14: initial population items are checked when the spec is read
        (
            "initial_population={heuristics: [no-such]}",
            ("initial_population.heuristics: 'no-such': unknown heuristic", "ecad schedule kinds"),
        ),
        (
            "initial_population={heuristics: [tgate:2]}",
            ("initial_population.heuristics: 'tgate:2': tgate takes 2 argument(s): tgate:m:k",),
        ),
        (
            "initial_population={heuristics: ['tgate_without_ca_avg:99:2']}",
            ("'tgate_without_ca_avg:99:2': m (gate step) must be in 1..6",),
        ),
        (
            "initial_population={heuristics: ['tgate:3:2']}",
            ("'tgate:3:2': tgate is true TGATE", "use tgate_without_ca_avg"),
        ),
        (
            "initial_population={from_search: ../other}",
            ("initial_population.from_search: '../other' is not a search id",),
        ),
        ("guidance=.nan", ("guidance: must be a number in [0, 100], got nan",)),
        ("num_blocks={blocks: 1000000}", ("num_blocks: blocks: must be a count in 1..28",)),
        ("num_blocks={double: 2}", ("num_blocks: pixart-alpha has no block group 'double'",)),
    ],
)
def test_bad_spec_fields(tmp_path, store_dir, capsys, command, override, needles):
    spec = write_spec(tmp_path)
    line = assert_one_error(ecad(capsys, command, spec, override), EXIT_USAGE, *needles)
    assert str(spec) in line or line.startswith("error: override")
    assert not store_dir.exists()  # not even an empty store directory


@pytest.mark.parametrize("command", ["validate", "submit"])
def test_prompt_longer_than_the_text_encoders_read_is_refused(tmp_path, store_dir, capsys,
                                                              command):
    # issue 27 #2: a 50 MB one-line prompt was accepted and stored in spec.json
    prompts = tmp_path / "long.txt"
    prompts.write_text("a short prompt\n" + "word " * 2000 + "\n")
    spec = write_spec(tmp_path, prompts={"file": str(prompts)})
    assert_one_error(ecad(capsys, command, spec), EXIT_USAGE, "prompts: prompt 2",
                     "9999 characters; the limit is 1920", "at most 120 tokens")
    assert not store_dir.exists()


def test_spec_over_its_size_limit_is_refused(tmp_path, store_dir, capsys):
    # issue 27 #2: the resolved spec (prompt texts included) is bounded as a whole
    from ecad.search.validation import MAX_SPEC_BYTES

    prompts = tmp_path / "many.txt"
    line = "x" * 1000
    prompts.write_text("".join(f"{n} {line}\n" for n in range(MAX_SPEC_BYTES // 1000 + 10)))
    spec = write_spec(tmp_path, prompts={"file": str(prompts)})
    assert_one_error(ecad(capsys, "submit", spec), EXIT_USAGE, "resolved spec is",
                     f"the limit is {MAX_SPEC_BYTES}")
    assert not store_dir.exists()


def test_prompts_file_must_be_readable_and_not_empty(tmp_path, store_dir, capsys):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n  \n")
    for prompts, needle in [
        (str(empty), "no prompts found"),
        (str(tmp_path / "missing.txt"), "no such file"),
        (str(tmp_path), "is not a regular file"),
    ]:
        spec = write_spec(tmp_path, prompts={"file": prompts})
        for command in ("validate", "submit"):
            assert_one_error(ecad(capsys, command, spec), EXIT_USAGE, "prompts.file:", needle)
    assert stored_objects(store_dir) == []


def test_weights_directory_must_hold_the_familys_pipeline(tmp_path, store_dir, capsys):
    no_index = tmp_path / "no-index"
    no_index.mkdir()
    other = tmp_path / "flux"
    (other / "transformer").mkdir(parents=True)
    (other / "model_index.json").write_text('{"_class_name": "FluxPipeline"}')
    (other / "transformer" / "config.json").write_text('{"_class_name": "FluxTransformer2DModel"}')
    for weights, needle in [
        (no_index, "has no model_index.json"),
        (other, "holds a FluxTransformer2DModel transformer, not pixart-alpha's"),
    ]:
        spec = write_spec(tmp_path, weights=str(weights))
        for command in ("validate", "submit"):
            assert_one_error(ecad(capsys, command, spec), EXIT_USAGE, "weights:", needle)
    assert stored_objects(store_dir) == []


def test_every_problem_is_named_at_once(tmp_path, capsys):
    spec = write_spec(tmp_path, name="a b", population=10**9, weights="/nonexistent/w")
    code, _out, err = ecad(capsys, "validate", spec)
    assert code == EXIT_USAGE and "Traceback" not in err
    assert "3 error(s)" in err
    for field in ("name:", "population:", "weights:"):
        assert f"\n  {field}" in err


def test_default_name_from_an_awkward_file_name_is_made_safe(tmp_path, capsys):
    spec = write_spec(tmp_path)
    text = spec.read_text().replace("name: t\n", "")
    awkward = tmp_path / "my spec (v2).yaml"
    awkward.write_text(text)
    assert load_spec(awkward).name == "my-spec-v2"


def test_spec_file_not_utf8_too_large_or_not_a_mapping(tmp_path, capsys):
    cases = {
        "latin1.yaml": (b"name: caf\xe9\n", "search spec is not UTF-8 text (byte 0xe9"),
        "big.yaml": (b"# " + b"x" * (1 << 20) + b"\n", "larger than 1048576 bytes"),
        "list.yaml": (b"- 1\n- 2\n", "a search spec must be a YAML mapping, got list"),
        "deep.yaml": (b"[" * 5000, "YAML nested too deeply"),
        "digits.yaml": (b"population: 1" + b"0" * 5000 + b"\n", "bad YAML value"),
        "recursive.yaml": (b"a: &a [*a]\n", "refers to its own anchor"),
    }
    for name, (data, needle) in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        assert_one_error(ecad(capsys, "validate", path), EXIT_USAGE, str(path), needle)


def _alias_bomb(levels: int = 9) -> str:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    lines.append(f"name: *a{levels - 1}")
    return "\n".join(lines) + "\n"


def test_alias_bomb_fails_fast_and_small(tmp_path, capsys):
    # 4: nine levels of aliases stand for 9**9 = 387 million strings
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(_alias_bomb())
    tracemalloc.start()
    started = time.perf_counter()
    result = ecad(capsys, "validate", bomb)
    elapsed = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert_one_error(result, EXIT_USAGE, str(bomb), "expands to more than 100000 nodes")
    assert elapsed < FAST_S and peak < SMALL_BYTES, (elapsed, peak)


def test_anchors_and_merge_keys_stay_allowed(tmp_path):
    spec = write_spec(tmp_path)
    spec.write_text(
        spec.read_text()
        + "population: &p 4\nshard_size: *p\n"
        + "crossover: &x {points: 2, prob: 0.5}\nmutation: {individual_prob: 0.5}\n"
    )
    loaded = load_spec(spec, ["quality={<<: {scorer: fidelity}, metric: ssim}"])
    assert loaded.shard_size == loaded.population == 4
    assert loaded.crossover.points == 2 and loaded.quality.metric == "ssim"


# --- submit leaves nothing behind -----------------------------------------------------------


def test_submit_that_fails_in_its_checks_writes_nothing(tmp_path, store_dir, capsys):
    # 15: the transfer source does not exist: found only once the search is being created
    spec = write_spec(tmp_path, initial_population={"from_search": "nosuch-0123456789"})
    assert_one_error(ecad(capsys, "submit", spec), EXIT_USAGE, "no search 'nosuch-0123456789'")
    assert stored_objects(store_dir) == []
    # validate runs the same check
    assert_one_error(ecad(capsys, "validate", spec), EXIT_USAGE, "no search 'nosuch-0123456789'")


class FailingStore(FilesystemStore):
    """A real store whose ``fail_at``-th put raises, as a store that went away part-way."""

    def __init__(self, root: Path, fail_at: int) -> None:
        super().__init__(root)
        self.puts = 0
        self.fail_at = fail_at

    def put(self, key: str, data: bytes) -> None:
        self.puts += 1
        if self.puts == self.fail_at:
            from ecad.errors import TransientError

            raise TransientError(f"store went away writing {key}")
        super().put(key, data)


@pytest.mark.parametrize("fail_at", [1, 2, 3])
def test_submit_failing_part_way_takes_back_what_it_wrote(tmp_path, fail_at):
    spec = load_spec(write_spec(tmp_path))
    store = FailingStore(tmp_path / "store", fail_at)
    with pytest.raises(Exception, match="store went away"):
        SearchSession.create(store, spec)
    assert list(store.list("")) == []
    session, created = SearchSession.create(FilesystemStore(tmp_path / "store"), spec)
    assert created and session.phase == "ask"


# --- ecad cancel, status --------------------------------------------------------------------


@pytest.fixture(scope="module")
def finished_search(tmp_path_factory) -> tuple[Path, str]:
    root = tmp_path_factory.mktemp("finished")
    spec = write_spec(
        root,
        generations=0,
        population=2,
        steps=2,
        min_diff=1,
        prompts={"file": str(REPO / "prompts" / "calibration-100.txt"), "limit": 1},
    )
    store = FilesystemStore(root / "store")
    session = run_search(store, spec=load_spec(spec), progress=lambda _line: None)
    assert session.phase == "done"
    return root / "store", session.search_id


def test_cancel_of_a_finished_search_says_so(finished_search, monkeypatch, capsys):
    # 16: exit 0 (nothing to stop), no marker written
    store_dir, search_id = finished_search
    monkeypatch.setenv("ECAD_STORE", str(store_dir))
    before = sorted(stored_objects(store_dir))
    code, out, err = ecad(capsys, "cancel", search_id)
    assert code == 0 and err == ""
    assert out.strip() == f"{search_id} is already finished (done); nothing to cancel"
    assert sorted(stored_objects(store_dir)) == before


def test_unknown_search_id_is_a_usage_error(finished_search, monkeypatch, capsys):
    store_dir, _ = finished_search
    monkeypatch.setenv("ECAD_STORE", str(store_dir))
    for command in (["cancel"], ["pareto", "--store", str(store_dir)], ["status"]):
        assert_one_error(
            ecad(capsys, *command, "missing-0123456789"), EXIT_USAGE, "no search 'missing-"
        )


def test_overlong_search_id_is_no_such_search(finished_search, monkeypatch, capsys):
    # issue 27 #12: a 300-character id is no file name; it is no search either (exit 2)
    store_dir, _ = finished_search
    monkeypatch.setenv("ECAD_STORE", str(store_dir))
    long_id = "a" * 300
    for command in (["cancel"], ["pareto", "--store", str(store_dir)], ["status"],
                    ["report", "--store", str(store_dir)]):
        assert_one_error(ecad(capsys, *command, long_id), EXIT_USAGE, "no search 'aaaa")
    assert not FilesystemStore(store_dir).exists(f"searches/{long_id}/state.json")


def test_name_with_a_trailing_newline_fails_validate(tmp_path, capsys):
    # issue 27 #12: ``$`` matches before a final newline; names must match whole
    spec = write_spec(tmp_path)
    spec.write_text(spec.read_text().replace("name: t\n", 'name: "a\\n"\n'))
    assert 'name: "a\\n"' in spec.read_text()
    assert_one_error(ecad(capsys, "validate", spec), EXIT_USAGE, "name:")


def test_submit_to_a_store_with_a_garbage_identity_writes_nothing(tmp_path, store_dir, capsys):
    # issue 27 #12: the store's identity is read before the search's first write
    store_dir.mkdir()
    (store_dir / "store.json").write_bytes(b"\x00garbage")
    code, _out, err = ecad(capsys, "submit", write_spec(tmp_path))
    assert code == EXIT_RUNTIME and "store.json" in err, err
    assert stored_objects(store_dir) == [store_dir / "store.json"]


def _silent_listener() -> socket.socket:
    """A TCP port that accepts connections and never answers (a hung broker)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    return sock


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


_PROBE = """
import json, sys, time
from ecad.cli.broker import ping_workers
from ecad.errors import TransientError
started = time.perf_counter()
try:
    ping_workers()
    print(json.dumps({"answered": True}))
except TransientError as exc:
    print(json.dumps({"error": str(exc), "seconds": time.perf_counter() - started}))
"""


def test_unreachable_broker_is_reported_within_seconds(tmp_path):
    # 20: refused, and accepted but never answered (a hung broker): 3 s each, then an error
    hung = _silent_listener()
    try:
        for port in (_free_port(), hung.getsockname()[1]):
            env = {**os.environ, "ECAD_BROKER_URL": f"redis://u:secret@127.0.0.1:{port}/0"}
            out = subprocess.run(
                [sys.executable, "-c", _PROBE],
                env=env,
                capture_output=True,
                text=True,
                timeout=300,
            )
            report = json.loads(out.stdout.strip().splitlines()[-1])
            assert "did not answer within 3 s" in report["error"]
            assert f"127.0.0.1:{port}" in report["error"] and "secret" not in report["error"]
            assert report["seconds"] < FAST_S, report
    finally:
        hung.close()


def test_status_with_a_hung_broker_shows_the_store_and_exits_1(finished_search):
    store_dir, search_id = finished_search
    hung = _silent_listener()
    env = {
        **os.environ,
        "ECAD_STORE": str(store_dir),
        "ECAD_BROKER_URL": f"redis://127.0.0.1:{hung.getsockname()[1]}/0",
    }
    env.pop("ECAD_CONFIG", None)
    try:
        out = _ecad_process("status", env=env)
    finally:
        hung.close()
    assert out.returncode == EXIT_RUNTIME and "Traceback" not in out.stderr
    assert out.stdout.startswith(f"{search_id}: done")
    assert out.stderr.strip().startswith("error: broker redis://127.0.0.1:")
    assert "did not answer within 3 s" in out.stderr


@pytest.mark.parametrize("outage", ["refused", "hung"])
def test_status_answers_within_its_deadline_while_the_store_is_down(monkeypatch, capsys,
                                                                    outage):
    # issue 27 #9: a refusing or hung S3 kept status silent for the store's 60 s retry budget
    hung = _silent_listener()
    port = hung.getsockname()[1] if outage == "hung" else _free_port()
    env = {"ECAD_STORE": "s3://ecad", "ECAD_S3_ENDPOINT": f"127.0.0.1:{port}",
           "ECAD_S3_ACCESS_KEY": "a", "ECAD_S3_SECRET_KEY": "b", "ECAD_S3_REGION": "us-east-1",
           "ECAD_STATUS_DEADLINE": "2"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("ECAD_CONFIG", raising=False)
    try:
        started = time.monotonic()
        code, out, err = ecad(capsys, "status", "--no-workers")
        seconds = time.monotonic() - started
    finally:
        hung.close()
    assert code == EXIT_RUNTIME and out == "", (out, err)
    assert err.startswith("error: store unreachable since "), err
    assert seconds < 20, seconds  # the deadline is 2 s; the store's own budget is 60 s


def test_status_with_a_live_broker_and_no_workers(finished_search, redis_url):
    store_dir, search_id = finished_search
    env = {**os.environ, "ECAD_STORE": str(store_dir), "ECAD_BROKER_URL": redis_url}
    env.pop("ECAD_CONFIG", None)
    # issue 27 #11: a refusal forged in Redis carries terminal escape sequences
    import redis

    client = redis.Redis.from_url(redis_url)
    client.set("ecad:refusal:evil", json.dumps({"worker": "evil\x1b]0;owned\x07",
                                                "reason": "\x1b[2J\x1b[31mred\u202e\rgone"}))
    client.close()
    out = _ecad_process("status", env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(f"{search_id}: done")
    lines = out.stdout.splitlines()
    assert lines[-2] == "workers: none answering"
    assert lines[-1] == (r"worker evil\x1b]0;owned\x07 refuses tasks: \x1b[2J\x1b[31mred"
                         r"\u202e\rgone")
    assert not any(ch in out.stdout for ch in "\x1b\x07\r\u202e")


@pytest.fixture
def redis_url():
    from tests.integration.cluster import RedisServer

    server = RedisServer().start()
    try:
        yield server.url
    finally:
        server.stop()


# --- schedule files ------------------------------------------------------------------------


def _edited_schedule(tmp_path: Path, name: str, edit) -> Path:
    doc = json.loads(SCHEDULE.read_text())
    edit(doc["cache_schedule"])
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return path


def _rename(schedule: dict, step: str, block: str, old: str, new: str) -> None:
    entry = schedule["schedule"][step][block]
    entry[new] = entry.pop(old)


@pytest.mark.parametrize("command", [("schedule", "show"), ("cost",)])
def test_bad_schedule_files(tmp_path, capsys, command):
    not_utf8 = tmp_path / "x.json"
    not_utf8.write_bytes(b"\x80")
    cases = [
        # 17
        (not_utf8, "schedule file is not UTF-8 text (byte 0x80 at offset 0)"),
        # 19
        (
            _edited_schedule(
                tmp_path, "typo.json", lambda s: _rename(s, "000", "3", "attn1", "atn1")
            ),
            "step 000, block 3, component 'atn1': unknown component",
        ),
        (
            _edited_schedule(tmp_path, "typo7.json", lambda s: _rename(s, "007", "5", "ff", "fff")),
            "step 007, block 5, component 'fff': unknown component",
        ),
        (
            _edited_schedule(
                tmp_path, "null.json", lambda s: s["schedule"]["005"].update({"7": None})
            ),
            "step 005, block 7: is null",
        ),
        (
            _edited_schedule(tmp_path, "missing.json", lambda s: s["schedule"]["005"].pop("7")),
            "step 005, block 7: missing",
        ),
        (
            _edited_schedule(
                tmp_path, "value.json", lambda s: s["schedule"]["002"]["1"].update({"ff": None})
            ),
            "step 002, block 1, component 'ff': value null is not a boolean",
        ),
        (
            _edited_schedule(tmp_path, "attrs.json", lambda s: s.update({"attributes": [1]})),
            "cache_schedule.attributes must be an object",
        ),
    ]
    for path, needle in cases:
        assert_one_error(ecad(capsys, *command, path), EXIT_USAGE, str(path), needle)


def test_huge_declared_sizes_fail_fast_and_small(tmp_path, capsys):
    # 18: the header is checked against the family before anything is sized by it
    header = _edited_schedule(
        tmp_path, "header.json", lambda s: s.update({"num_blocks": 1_000_000_000})
    )
    far_step = _edited_schedule(
        tmp_path, "far.json", lambda s: s["schedule"].update({"999999": s["schedule"]["000"]})
    )
    for path, needle in [
        (header, "cache_schedule.num_blocks is 1000000000, but pixart-alpha has at most 28"),
        (far_step, "missing step 020"),
    ]:
        tracemalloc.start()
        started = time.perf_counter()
        result = ecad(capsys, "schedule", "show", path)
        elapsed = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert_one_error(result, EXIT_USAGE, str(path), needle)
        assert elapsed < FAST_S and peak < SMALL_BYTES, (elapsed, peak)


def test_block_count_mismatch_names_the_group_once():
    # 19: "schedule has 3 blocks", not "3 blocks blocks"
    from ecad.caching.targets import slot_targets
    from ecad.errors import ScheduleMismatchError
    from ecad.families import get_family
    from ecad.schedules import ScheduleLayout

    family = get_family("pixart-alpha")
    transformer = family.build_tiny_pipeline().transformer
    with pytest.raises(ScheduleMismatchError) as info:
        slot_targets(transformer, ScheduleLayout.for_family(family, {"blocks": 3}))
    assert "schedule has 3 blocks but PixArtTransformer2DModel.transformer_blocks has 2" in str(
        info.value
    )


# --- the console script itself ---------------------------------------------------------------


def test_console_script_prints_no_traceback(tmp_path):
    spec = write_spec(tmp_path)
    not_utf8 = tmp_path / "x.json"
    not_utf8.write_bytes(b"\x80")
    for args, code in [
        (["validate", str(spec), "population.x=1"], EXIT_USAGE),
        (["schedule", "show", str(not_utf8)], EXIT_USAGE),
        (["validate", str(tmp_path / "missing.yaml")], EXIT_USAGE),
        (["frobnicate"], EXIT_USAGE),
    ]:
        out = _ecad_process(*args)
        assert out.returncode == code, (args, out.stderr)
        assert "Traceback" not in out.stderr and out.stderr.strip(), (args, out.stderr)
