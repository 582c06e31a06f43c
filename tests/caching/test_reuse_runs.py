"""Runs of wholly reused blocks in the compiled engine: which blocks form a run, one graph per
run length, the same images as the eager engine to float rounding, the same caches held."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ecad.caching import (
    ScheduleCacheConfig,
    apply_schedule,
    cache_stats,
    compile_stats,
    remove_schedule,
)
from ecad.caching.hooks import BLOCK_HOOK
from ecad.caching.reuse_runs import MEMBER, chunk_lengths
from ecad.families import get_family
from ecad.families.tiny import build_tiny_pixart
from ecad.schedules import Schedule, ScheduleLayout
from ecad.schedules.catalog import HeuristicCall
from ecad.schedules.heuristics import fora
from tests.caching import tiny_calls
from tests.caching.test_compiled import CountingBackend, _fresh_dynamo  # noqa: F401

STEPS = 4
BLOCKS = 7


@pytest.fixture(scope="module")
def seven():
    family = get_family("pixart-alpha")
    pipe = build_tiny_pixart(family.pipeline_class, num_layers=BLOCKS)
    return family, pipe, ScheduleLayout.for_model(family, pipe.transformer)


def _schedule(layout, computed: dict[int, list[int]]) -> Schedule:
    """Step 0 computes all; step t computes the slots ``computed.get(t, [])`` only."""
    bits = np.zeros((STEPS, layout.num_slots), bool)
    bits[0] = True
    for t, slots in computed.items():
        bits[t, slots] = True
    return Schedule(layout, bits).with_metadata(name="runs")


def _run(pipe, family):
    return tiny_calls.run_pipe(pipe, family, num_inference_steps=STEPS)


def _eager(pipe, family, schedule):
    apply_schedule(pipe, schedule)
    try:
        return _run(pipe, family), cache_stats(pipe)["peak_cached_bytes"]
    finally:
        remove_schedule(pipe)


def _role(block, row: int):
    """None (own forward), MEMBER, or the length of the run it heads; '-': no block hook."""
    registry = getattr(block, "_diffusers_hook", None)
    hook = registry.get_hook(BLOCK_HOOK) if registry is not None else None
    if hook is None:
        return "-"
    role = None if hook.roles is None else hook.roles[row]
    return role if role in (None, MEMBER) else len(role[0])


def _roles(pipe, row: int) -> list:
    return [_role(block, row) for block in pipe.transformer.transformer_blocks]


def test_runs_are_cut_into_powers_of_two():
    assert chunk_lengths(1) == [1]
    assert chunk_lengths(7) == [4, 2, 1]
    assert chunk_lengths(13) == [8, 4, 1]
    assert chunk_lengths(28) == [16, 8, 4]
    assert chunk_lengths(40) == [16, 16, 8]
    assert chunk_lengths(0) == []


def test_block_scope_adds_each_run_in_one_graph_per_length(seven):
    family, pipe, layout = seven
    # step 2: block 2 computes its self-attention (slot 6), every other block reuses everything
    schedule = _schedule(layout, {2: [6]})
    ref, ref_peak = _eager(pipe, family, schedule)
    backend = CountingBackend()
    config = ScheduleCacheConfig(
        schedule, compile="default", compile_backend=backend, compile_scope="blocks"
    )
    apply_schedule(pipe, config)
    try:
        assert _roles(pipe, 0) == [None] * BLOCKS  # all computed: no run
        assert _roles(pipe, 1) == [4, MEMBER, MEMBER, MEMBER, 2, MEMBER, None]
        assert _roles(pipe, 2) == [2, MEMBER, None, 4, MEMBER, MEMBER, MEMBER]
        out, again = _run(pipe, family), _run(pipe, family)
        stats, peak = compile_stats(pipe), cache_stats(pipe)["peak_cached_bytes"]
    finally:
        remove_schedule(pipe)
    # block graphs: all computed, block 2 at step 2, block 6 alone reusing all; runs of 4 and 2;
    # the transformer's head and tail
    assert backend.graphs == stats["compiled"] == 5 + 2
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(again, ref, rtol=1e-5, atol=1e-5)
    assert peak == ref_peak  # members still drop what nobody reads again


def test_runs_join_only_neighbouring_hooked_blocks(seven):
    """Transformer scope hooks only blocks that reuse something: a block that always computes
    sits between runs, and blocks either side of it never form one."""
    family, pipe, layout = seven
    always = [6, 7, 8]  # block 2's three slots, computed at every step
    schedule = _schedule(layout, {t: always for t in range(1, STEPS)})
    ref, _ = _eager(pipe, family, schedule)
    backend = CountingBackend()
    apply_schedule(pipe, ScheduleCacheConfig(schedule, compile="default", compile_backend=backend))
    try:
        assert _roles(pipe, 1) == [2, MEMBER, "-", 4, MEMBER, MEMBER, MEMBER]
        out = _run(pipe, family)
    finally:
        remove_schedule(pipe)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)


def test_eager_engine_keeps_block_by_block_updates(seven):
    _, pipe, layout = seven
    apply_schedule(pipe, _schedule(layout, {}))
    try:
        assert _roles(pipe, 1) == [None] * BLOCKS
    finally:
        remove_schedule(pipe)
    no_fusion = ScheduleCacheConfig(
        _schedule(layout, {}), compile="default", compile_backend="eager", fused_kernels=False
    )
    apply_schedule(pipe, no_fusion)
    try:
        assert _roles(pipe, 1) == [None] * BLOCKS
    finally:
        remove_schedule(pipe)


def test_true_tgate_blocks_join_no_run(seven):
    family, pipe, layout = seven
    schedule = HeuristicCall.parse("tgate:3:1").build(layout, STEPS)
    ref, _ = _eager(pipe, family, schedule)
    config = ScheduleCacheConfig(
        schedule, compile="default", compile_backend="eager", compile_scope="blocks"
    )
    apply_schedule(pipe, config)
    try:
        assert all(r is None for row in range(2 * STEPS) for r in _roles(pipe, row))
        out = _run(pipe, family)
    finally:
        remove_schedule(pipe)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("scope", ["blocks", "transformer"])
def test_flux_runs_update_both_streams(scope):
    """FLUX's blocks carry a text and an image stream; double and single blocks form separate
    runs, and a reused block computes only the gates of its modulation."""
    from ecad.families.tiny import build_tiny_flux

    family = get_family("flux-dev")
    pipe = build_tiny_flux(family.pipeline_class, num_layers=3, num_single_layers=4)
    layout = ScheduleLayout.for_model(family, pipe.transformer)
    schedule = fora(layout, STEPS, 2)
    ref, _ = _eager(pipe, family, schedule)
    backend = CountingBackend()
    config = ScheduleCacheConfig(
        schedule, compile="default", compile_backend=backend, compile_scope=scope
    )
    apply_schedule(pipe, config)
    try:
        blocks = [*pipe.transformer.transformer_blocks, *pipe.transformer.single_transformer_blocks]
        roles = [_role(b, 1) for b in blocks]
        out = _run(pipe, family)
    finally:
        remove_schedule(pipe)
    assert roles == [2, MEMBER, None, 4, MEMBER, MEMBER, MEMBER]
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)


def test_gates_alone_equal_the_chunks_of_the_whole_modulation():
    from ecad.caching.recipes_pixart_flux import _emb, _emb_chunks
    from ecad.families.tiny import build_tiny_flux

    block = build_tiny_flux(get_family("flux-dev").pipeline_class).transformer.transformer_blocks[0]
    temb = torch.randn(2, block.norm1.linear.in_features)
    whole = _emb(block.norm1, temb, 6)
    for got, i in zip(_emb_chunks(block.norm1, temb, 6, (2, 5)), (2, 5)):
        torch.testing.assert_close(got, whole[i], rtol=1e-6, atol=1e-6)
