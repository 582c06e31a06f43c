import pytest

from ecad.store import check_key
from ecad.store.layout import (
    IMAGES_TASK,
    SHARD_TASK,
    failure_key,
    failure_task,
    generation_record_key,
    parse_task_key,
    score_key,
    search_id_of,
    shard_marker_key,
    state_key,
    task_key,
    task_output_key,
)

GEN = "0123456789abcdef" * 2
EVAL = "fedcba9876543210" * 2


def test_task_keys_round_trip_to_their_outputs():
    images = task_key(IMAGES_TASK, GEN, 3)
    shard = task_key(SHARD_TASK, EVAL, 12)
    assert parse_task_key(images) == (IMAGES_TASK, GEN, 3)
    assert parse_task_key(shard) == (SHARD_TASK, EVAL, 12)
    assert task_output_key(images) == shard_marker_key(GEN, 3)
    assert task_output_key(shard) == score_key(EVAL, 12)
    assert failure_task(failure_key(shard)) == shard
    for key in (images, shard, failure_key(shard), state_key("s-1"), shard_marker_key(GEN, 0)):
        assert check_key(key) == key


@pytest.mark.parametrize(
    "key", ["generate-x-0001", f"shard-{EVAL}--001", f"shard-{EVAL[:-1]}-0001", "", "shard"]
)
def test_what_is_not_a_task_key(key):
    assert parse_task_key(key) is None
    assert failure_task(f"failures/{key}.json") is None


def test_search_keys():
    assert search_id_of(state_key("tiny-0123")) == "tiny-0123"
    assert search_id_of(generation_record_key("tiny-0123", 2)) is None
    assert generation_record_key("x", 7) == "searches/x/generations/0007.json"
    with pytest.raises(ValueError, match="task kind"):
        task_key("generate", GEN, 0)
