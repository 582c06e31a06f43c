"""Runs of wholly reused blocks, for the compiled engine.

At a step where consecutive blocks reuse every component, each block's output is its input plus
its cached outputs (gated with this step's modulation). Block by block that reads and writes the
residual stream once per block; as a *run*, the first block adds every cached output of the run
to the stream in one pass and the others hand the stream on. A compiler fuses that sum into one
kernel, so a run of ``n`` blocks reads ``3n + 1`` tensors and writes one instead of reading
``4n`` and writing ``n`` (PixArt at 1024 px: 19 MB each per block and step).

The sum is rounded once instead of once per block, so a compiled schedule matches the eager one
to float rounding, not bit for bit; the eager engine keeps block-by-block updates. A block with
several streams (FLUX: text and image) sums each; what happens between blocks (ControlNet
residuals) commutes with the sum. A loop that may leave a block out (SD3's skip-layer
guidance) must not have runs: its recipe gives no :class:`~ecad.caching.recipes.WhollyReused`.

Runs are cut into lengths that are powers of two (at most :data:`MAX_RUN`), so a schedule
compiles at most one graph per length that occurs (2, 4, 8, 16), whatever its runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from ecad.caching.kernels import gated_sum
from ecad.caching.recipes import WhollyReused, streams_at

__all__ = ["MAX_RUN", "MEMBER", "chunk_lengths", "plan_runs", "reused_sum"]

MAX_RUN = 16

#: The role of a block that a run's first block already accounted for: it passes the stream on.
MEMBER = "member"


def chunk_lengths(length: int) -> list[int]:
    """``length`` consecutive blocks cut into powers of two, longest first, none over
    :data:`MAX_RUN` (``13 -> [8, 4, 1]``, ``40 -> [16, 16, 8]``)."""
    out = []
    while length > 0:
        size = min(MAX_RUN, 1 << (length.bit_length() - 1))
        out.append(size)
        length -= size
    return out


def plan_runs(
    blocks: Sequence[tuple[Any, torch.nn.Module, tuple[Any, int]]], rows: int
) -> None:
    """Give every hook its role per plan row (``hook.roles``): ``None`` (the block runs its own
    forward), :data:`MEMBER`, or, on a run's first block, the run's ``(hooks, modules)``.

    ``blocks``: ``(hook, block, (parent, index))`` in forward order; blocks are consecutive
    when they share a parent (``ModuleList``) and their indices follow each other. Only blocks
    whose hook ``can_join_run(block, row)`` join runs.
    """
    for hook, _, _ in blocks:
        hook.roles = [None] * rows
    for row in range(rows):
        run: list[tuple[Any, torch.nn.Module]] = []
        last: tuple[Any, int] | None = None
        for hook, block, place in [*blocks, (None, None, (None, -1))]:
            joins = hook is not None and hook.can_join_run(block, row)
            follows = (
                joins
                and run
                and last is not None
                and place[0] is last[0]
                and place[1] == last[1] + 1
                and type(block) is type(run[-1][1])
            )
            if run and not follows:
                _assign(run, row)
                run = []
            if joins:
                run.append((hook, block))
                last = place


def _assign(run: list[tuple[Any, torch.nn.Module]], row: int) -> None:
    start = 0
    for size in chunk_lengths(len(run)):
        if size > 1:
            part = run[start : start + size]
            head = part[0][0]
            head.roles[row] = (tuple(h for h, _ in part), tuple(b for _, b in part))
            for hook, _ in part[1:]:
                hook.roles[row] = MEMBER
        start += size


def reused_sum(
    reused: WhollyReused,
    modules: Sequence[torch.nn.Module],
    cached: Sequence[dict[str, Any]],
    places: tuple[int | str, ...],
    args: tuple,
    kwargs: dict,
) -> Any:
    """The streams after a run: each one's input (in ``args`` or ``kwargs`` at ``places``:
    :meth:`~ecad.caching.recipes.WhollyReused.stream_places`) plus every block's gated cached
    outputs, in what the blocks return."""
    streams = streams_at(places, args, kwargs)
    terms: list[list] = [[] for _ in streams]
    for module, outputs in zip(modules, cached):
        for total, own in zip(terms, reused.terms(module, outputs, *args, **kwargs)):
            total.extend(own)
    return reused.output(tuple(gated_sum(s, t, True) for s, t in zip(streams, terms)))
