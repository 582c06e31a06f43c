"""Stratified shards: a partition of the image set whose every prefix covers the prompts evenly."""

from __future__ import annotations

from collections import Counter

import pytest

from ecad.search.stratified import spread_order, stratified_shards

GRID = [(p, m, s) for p in (1, 2, 3, 7, 8, 13, 32, 100) for m in (1, 2, 10) for s in (1, 3, 4, 8)]


@pytest.mark.parametrize(("prompts", "images", "size"), GRID)
def test_shards_partition_the_pairs_in_full_shards(prompts, images, size):
    shards = stratified_shards(prompts, images, size)
    pairs = [pair for shard in shards for pair in shard]
    assert sorted(pairs) == [(p, i) for p in range(prompts) for i in range(images)]
    assert all(len(shard) == size for shard in shards[:-1])
    assert 1 <= len(shards[-1]) <= size


@pytest.mark.parametrize(("prompts", "images", "size"), GRID)
def test_every_prefix_is_balanced_over_prompts(prompts, images, size):
    shards = stratified_shards(prompts, images, size)
    seen: Counter[int] = Counter()
    for shard in shards:
        seen.update(p for p, _ in shard)
        counts = [seen[p] for p in range(prompts)]
        assert max(counts) - min(counts) <= 1
        if size <= prompts:
            assert len({p for p, _ in shard}) == len(shard)  # distinct prompts in a shard


@pytest.mark.parametrize(
    ("prompts", "size"), [(p, s) for p in (5, 8, 13, 64, 100) for s in (2, 4, 8) if s <= p]
)
def test_each_shard_is_spread_over_the_prompt_list(prompts, size):
    # Cut the prompt list into `size` equal blocks: a shard of consecutive prompts would sit in
    # one or two blocks; a stratified one reaches at least half of them.
    for shard in stratified_shards(prompts, 1, size)[:-1]:
        blocks = {p * size // prompts for p, _ in shard}
        assert len(blocks) >= (size + 1) // 2, shard


def test_same_counts_same_shards_and_the_documented_example():
    assert stratified_shards(100, 10, 8) == stratified_shards(100, 10, 8)
    assert stratified_shards(4, 2, 3) == [
        [(0, 0), (2, 0), (1, 0)],
        [(3, 0), (0, 1), (2, 1)],
        [(1, 1), (3, 1)],
    ]
    assert spread_order(8) == [0, 4, 2, 6, 1, 5, 3, 7]
    assert sorted(spread_order(100)) == list(range(100))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((0, 1, 1), "num_prompts must be an integer >= 1, got 0"),
        ((3, True, 1), "images_per_prompt must be an integer >= 1, got True"),
        ((3, 1, 2.0), "shard_size must be an integer >= 1, got 2.0"),
    ],
)
def test_counts_are_validated(args, message):
    with pytest.raises(ValueError, match=message):
        stratified_shards(*args)
