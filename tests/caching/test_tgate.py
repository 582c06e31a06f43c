"""True TGATE on a tiny random-weight PixArt-α pipeline, fp32 on the CPU (METHOD.md §4)."""

from __future__ import annotations

import pytest
import torch

from ecad.caching import ScheduleCacheConfig, apply_schedule, cache_stats, remove_schedule
from ecad.errors import ScheduleMismatchError
from ecad.families import get_family
from ecad.families.loading import load_pipeline
from ecad.schedules import Schedule, ScheduleLayout
from ecad.schedules.catalog import HeuristicCall
from tests.caching.tiny_calls import STEPS, run_pipe

GATE = 3  # m: average at step 2, batch B from step 3


@pytest.fixture(scope="module")
def setup(tiny_dirs):
    family = get_family("pixart-alpha")
    pipe = load_pipeline(family, str(tiny_dirs["pixart-alpha"]))
    layout = ScheduleLayout.for_model(family, pipe.transformer)
    true = HeuristicCall.of("tgate", m=GATE, k=2).build(layout, STEPS)
    plain = HeuristicCall.of("tgate_without_ca_avg", m=GATE, k=2).build(layout, STEPS)
    return family, pipe, true, plain


def _run(pipe, family, schedule, **config):
    """Images, the latents after each step, the batch each step's blocks saw and block 0's
    cross-attention output at each step."""
    apply_schedule(pipe, ScheduleCacheConfig(schedule, **config))
    latents, batches, cross = [], [], []
    t = pipe.transformer
    h1 = t.pos_embed.register_forward_pre_hook(lambda m, a: batches.append(a[0].shape[0]))
    h2 = t.transformer_blocks[0].attn2.register_forward_hook(lambda m, a, o: cross.append(o))
    try:
        images = run_pipe(
            pipe,
            family,
            callback=lambda step, _t, lat: latents.append(lat.clone()),
            callback_steps=1,
        )
    finally:
        h1.remove()
        h2.remove()
        remove_schedule(pipe)
    return images, latents, batches, cross


def test_batch_is_halved_from_the_gate(setup):
    family, pipe, true, _ = setup
    _, _, batches, _ = _run(pipe, family, true)
    assert batches == [4] * GATE + [2] * (STEPS - GATE)  # 2 prompts: 2B = 4, then B = 2


def test_steps_before_the_gate_equal_the_boolean_schedule(setup):
    family, pipe, true, plain = setup
    images_t, lat_t, _, _ = _run(pipe, family, true)
    images_p, lat_p, _, _ = _run(pipe, family, plain)
    for step in range(GATE):  # up to m-1 the cross-attention output is used as usual
        assert torch.equal(lat_t[step], lat_p[step]), step
    assert not torch.equal(lat_t[GATE], lat_p[GATE])
    assert torch.isfinite(images_t).all() and not torch.equal(images_t, images_p)


def test_cross_attention_from_the_gate_is_the_average_of_the_halves(setup):
    family, pipe, true, _ = setup
    _, _, _, cross = _run(pipe, family, true)
    assert len(cross) == STEPS
    at_gate = cross[GATE - 1]
    half = at_gate.shape[0] // 2
    average = (at_gate[:half] + at_gate[half:]) / 2
    for step in range(GATE, STEPS):
        assert torch.equal(cross[step], average), step


def test_guidance_drop_is_a_pure_compute_saving(setup):
    family, pipe, true, _ = setup
    dropped, _, batches_b, _ = _run(pipe, family, true)
    kept, _, batches_2b, cross = _run(pipe, family, true, drop_guidance=False)
    assert batches_2b == [4] * STEPS and batches_b[-1] == 2
    assert cross[-1].shape[0] == 4  # both halves got the average
    assert (dropped - kept).abs().max().item() < 1e-5
    assert cache_stats(pipe)["cached_bytes"] == 0


def test_component_hooks_engine_agrees_with_lean_blocks(setup):
    family, pipe, true, _ = setup
    lean, _, _, _ = _run(pipe, family, true)
    hooks, _, _, _ = _run(pipe, family, true, lean_blocks=False)
    assert (lean - hooks).abs().max().item() < 1e-5
    again, _, _, _ = _run(pipe, family, true)
    assert torch.equal(again, lean)  # no state leaks from one call into the next


def test_gate_at_the_last_step_plus_one_runs_as_its_boolean_twin(setup):
    """Gate step = steps (the published m = 20 of 20): the average is never used, so the run is
    the boolean twin's, bit for bit, at the full guidance batch every step."""
    family, pipe, gated, _ = setup
    true = HeuristicCall.of("tgate", m=STEPS, k=2).build(gated.layout, STEPS)
    twin = HeuristicCall.of("tgate_without_ca_avg", m=STEPS, k=2).build(gated.layout, STEPS)
    assert true.custom_attention.gate_step == STEPS and len(true.reused_slots())
    images_t, lat_t, batches, _ = _run(pipe, family, true)
    images_p, lat_p, _, _ = _run(pipe, family, twin)
    assert batches == [4] * STEPS
    assert all(torch.equal(a, b) for a, b in zip(lat_t, lat_p, strict=True))
    assert torch.equal(images_t, images_p)


def test_reuse_at_the_gate_step_is_refused(setup):
    _, pipe, true, _ = setup
    bits = true.bits.copy()
    bits[GATE, 0] = False  # attn1 of block 0 would reuse a 2B-batch cache at batch B
    bad = Schedule(true.layout, bits, true.metadata, true.custom_attention)
    with pytest.raises(ScheduleMismatchError, match="reused at the gate step 3"):
        apply_schedule(pipe, bad)
    remove_schedule(pipe)


@pytest.mark.parametrize("prompts", [["a red cube"], ["a red cube", "two cats"]])
def test_without_guidance_is_a_clear_error(setup, prompts):
    """One prompt: an odd batch; two prompts: an even batch of two different images, which
    must not be averaged as if they were guidance halves."""
    family, pipe, true, _ = setup
    apply_schedule(pipe, true)
    try:
        with pytest.raises(ScheduleMismatchError, match="guidance_scale > 1"):
            run_pipe(pipe, family, prompt=prompts, guidance_scale=1.0)
    finally:
        remove_schedule(pipe)


def test_removal_restores_the_stock_pipeline(setup):
    family, pipe, true, _ = setup
    plain = run_pipe(pipe, family)
    _run(pipe, family, true)  # applies, runs and removes
    assert torch.equal(run_pipe(pipe, family), plain)
    assert not hasattr(pipe.transformer.transformer_blocks[0].attn2, "_diffusers_hook")
