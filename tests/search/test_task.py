"""The shard task message: validated before any work, decoded without schedule files."""

import pytest

from ecad.search import SearchPlan, ShardWork, load_spec
from ecad.search.task import ShardTask
from ecad.store.keys import IMAGES_TASK, SHARD_TASK
from ecad.store.records import RecordError, StoreObjectError, parse_record


@pytest.fixture
def plan(spec_file):
    return SearchPlan(load_spec(spec_file))


def _message(plan, **change):
    cand = plan.candidate(0, plan.reference.schedule)  # the full schedule: valid here
    msg = plan.task(ShardWork(SHARD_TASK, cand, 1, plan.sharding)).to_json()
    msg.update(change)
    return msg


def test_message_round_trips_to_the_same_work(plan):
    msg = _message(plan)
    assert set(msg) == {"search_id", "kind", "shard", "shards", "genome", "genome_bits",
                        "generation_key", "evaluation_key", "layout", "version",
                        "store_id", "store_probe"}
    task = ShardTask.from_json(msg)
    work = plan.work(task)
    assert work.shard == 1 and work.kind == SHARD_TASK
    assert work.candidate.evaluation_key == msg["evaluation_key"]
    assert plan.task(work) == task


@pytest.mark.parametrize(
    "change, problem",
    [
        ({"shard": -1}, r"shard: must be in \[0, 2\), got -1"),
        ({"shard": 2}, r"shard: must be in \[0, 2\), got 2"),
        ({"shard": "1"}, "shard: must be int"),
        ({"shard": True}, "shard: must be int"),
        ({"kind": "generate"}, "kind: must be"),
        ({"generation_key": "../../etc"}, "generation_key: .* is not a 32-hex-digit key"),
        ({"evaluation_key": None}, "evaluation_key: None is not"),
        ({"genome": "zz"}, "genome: must be"),
        ({"genome_bits": 5}, "genome: must be 5 bits"),
        ({"search_id": "a/b"}, "search_id: .* is not a search id"),
        ({"version": 7}, "task message made by version 7"),
        ({"extra": 1}, r"unknown task message fields \['extra'\]"),
        ({"shards": 10**9}, r"shards: must be in \[1, 100000\]"),
        ({"store_id": "../other"}, "store_id: .* is not a 32-hex-digit store id"),
        ({"store_probe": "../x"}, "store_probe: .* is not a store probe"),
        ({"store_probe": "1700000000-abc\n"}, "store_probe: .* is not a store probe"),
    ],
)
def test_forged_messages_are_refused_with_the_field(plan, change, problem):
    with pytest.raises(RecordError, match=problem):
        ShardTask.from_json(_message(plan, **change))
    with pytest.raises(StoreObjectError, match="task message: malformed"):
        parse_record("task message", _message(plan, **change), ShardTask.from_json)


def test_not_an_object_and_images_tasks(plan):
    for junk in ([], "x", None, 3):
        with pytest.raises(RecordError, match="JSON object"):
            ShardTask.from_json(junk)
    ref = plan.reference
    images = plan.task(ShardWork(IMAGES_TASK, ref, 0, plan.sharding))
    assert images.evaluation_key is None and plan.work(images).kind == IMAGES_TASK
    with pytest.raises(RecordError, match="an images task has none"):
        ShardTask.from_json({**images.to_json(), "evaluation_key": ref.evaluation_key})


def test_keys_must_match_the_genome(plan):
    msg = _message(plan, generation_key="0" * 32)
    with pytest.raises(RecordError, match="keys do not match its genome"):
        plan.work(ShardTask.from_json(msg))
    with pytest.raises(RecordError, match="does not fit search"):
        plan.work(ShardTask.from_json(_message(plan, search_id="other-search")))


def test_the_output_key_comes_from_the_message_keys_as_the_task_key_names_it(plan):
    from ecad.store.keys import task_output_key

    for kind in (SHARD_TASK, IMAGES_TASK):
        msg = _message(plan)
        if kind == IMAGES_TASK:
            msg.update(kind=IMAGES_TASK, evaluation_key=None)
        task = ShardTask.from_json(msg)
        assert task.output_key == task_output_key(task.task_key)
        work = plan.work(task)
        assert work.task_key == task.task_key  # one derivation, both sides
        assert work.candidate.generation_key == task.generation_key
        assert task.evaluation_key in (None, work.candidate.evaluation_key)
