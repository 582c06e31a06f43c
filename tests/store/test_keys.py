import pytest

from ecad.store import check_key
from ecad.store.keys import (
    IMAGES_TASK,
    SHARD_TASK,
    failure_key,
    failure_task,
    generation_record_key,
    parse_task_key,
    score_key,
    search_id_of,
    shard_marker_key,
    sharding_id,
    state_key,
    task_key,
    task_output_key,
)

GEN = "0123456789abcdef" * 2
EVAL = "fedcba9876543210" * 2


def test_task_keys_round_trip_to_their_outputs():
    images = task_key(IMAGES_TASK, GEN, 3, sharding="p8")
    shard = task_key(SHARD_TASK, EVAL, 12, sharding="s4")
    assert parse_task_key(images) == (IMAGES_TASK, GEN, "p8", 3)
    assert parse_task_key(shard) == (SHARD_TASK, EVAL, "s4", 12)
    assert task_output_key(images) == shard_marker_key(GEN, 3, sharding="p8")
    assert task_output_key(shard) == score_key(EVAL, 12, sharding="s4")
    assert failure_task(failure_key(shard)) == shard
    marker = shard_marker_key(GEN, 0, sharding="s4")
    for key in (images, shard, failure_key(shard), state_key("s-1"), marker):
        assert check_key(key) == key


def test_per_shard_keys_record_the_sharding():
    """Shard 1 of stratified shards of 4 holds other images than shard 1 of prompt-major shards
    of 4 or of 8: no two shardings share a shard file or a task key."""
    shardings = [sharding_id(s, n) for s in (False, True) for n in (4, 8)]
    assert shardings == ["p4", "p8", "s4", "s8"]
    for make in (score_key, shard_marker_key):
        assert len({make(EVAL, 1, sharding=s) for s in shardings}) == 4
    assert len({task_key(SHARD_TASK, EVAL, 1, sharding=s) for s in shardings}) == 4
    with pytest.raises(TypeError):
        score_key(EVAL, 1)  # type: ignore[call-arg]  # the sharding is never implied
    with pytest.raises(ValueError, match="sharding id"):
        score_key(EVAL, 1, sharding="../x")


@pytest.mark.parametrize(
    "key", ["generate-x-0001", f"shard-{EVAL}-p8--001", f"shard-{EVAL[:-1]}-p8-0001",
            f"shard-{EVAL}-0001", f"shard-{EVAL}-x8-0001", "", "shard"]
)
def test_what_is_not_a_task_key(key):
    assert parse_task_key(key) is None
    assert failure_task(f"failures/{key}.json") is None


def test_search_keys():
    assert search_id_of(state_key("tiny-0123")) == "tiny-0123"
    assert search_id_of(generation_record_key("tiny-0123", 2)) is None
    assert generation_record_key("x", 7) == "searches/x/generations/0007.json"
    with pytest.raises(ValueError, match="task kind"):
        task_key("generate", GEN, 0, sharding="p8")
