"""Stratified shards: which (prompt index, image index) pairs each shard of a candidate holds.

Shards are evaluated in index order and a pruned candidate stops after a prefix of them, so a
prefix must already be a fair sample of the whole image set, the same one for every candidate:

- image-major rounds: every prompt gets its image 0 before any prompt gets its image 1, so after
  any number of shards the prompts' image counts differ by at most one;
- within a round prompts come in van der Corput (bit-reversed) order, 0, P/2, P/4, 3P/4, ..., so
  any run of consecutive pairs, and hence every shard and every prefix of shards, is spread over
  the whole prompt list (prompt files are often grouped by theme);
- every shard but possibly the last holds exactly ``shard_size`` pairs, and a shard holds
  distinct prompts whenever ``shard_size <= num_prompts``.

``shard i`` is a fixed list of ``(prompt index, image index)`` pairs, the shape
``EvaluationSetting.shards`` returns; the lists depend only on the three counts.

>>> stratified_shards(4, 2, 3)
[[(0, 0), (2, 0), (1, 0)], [(3, 0), (0, 1), (2, 1)], [(1, 1), (3, 1)]]
"""

from __future__ import annotations

__all__ = ["spread_order", "stratified_shards"]


def spread_order(n: int) -> list[int]:
    """A permutation of ``range(n)`` whose every run of consecutive items is spread over the
    range: indices in bit-reversed (van der Corput) order, skipping those >= ``n``."""
    if n < 1:
        raise ValueError(f"spread_order needs n >= 1, got {n}")
    bits = max(1, (n - 1).bit_length())
    order = (int(format(j, f"0{bits}b")[::-1], 2) for j in range(1 << bits))
    return [i for i in order if i < n]


def stratified_shards(
    num_prompts: int, images_per_prompt: int, shard_size: int
) -> list[list[tuple[int, int]]]:
    """Every (prompt, image) pair exactly once, cut into shards of ``shard_size`` (see module)."""
    for name, value in (
        ("num_prompts", num_prompts),
        ("images_per_prompt", images_per_prompt),
        ("shard_size", shard_size),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"stratified_shards: {name} must be an integer >= 1, got {value!r}")
    order = spread_order(num_prompts)
    pairs = [(p, i) for i in range(images_per_prompt) for p in order]
    return [pairs[s : s + shard_size] for s in range(0, len(pairs), shard_size)]
