"""The lean block engine against the reference (component-hook) engine, on tiny real models."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ecad.caching import ScheduleCacheConfig, apply_schedule, cache_stats, remove_schedule
from ecad.caching import hooks as hooks_module
from ecad.caching.blocks import plan_block
from ecad.caching.recipes import BlockRecipe, recipe_for
from ecad.families import get_family
from ecad.families.loading import load_pipeline
from ecad.schedules import Schedule, ScheduleLayout
from ecad.schedules.heuristics import fora, random_schedule
from tests.caching.tiny_calls import STEPS, run_pipe
from tests.conftest import FAMILY_NAMES


def _layout(pipe, family):
    return ScheduleLayout.for_model(family, pipe.transformer)




def _schedules(layout):
    """FORA, random mixes, and one that reuses only the consumer component (FLUX proj_out)."""
    out = [fora(layout, STEPS, 2), fora(layout, STEPS, 3)]
    out += [random_schedule(layout, STEPS, p, seed) for p, seed in ((0.3, 1), (0.6, 2), (0.8, 3))]
    bits = np.ones((STEPS, layout.num_slots), bool)
    for col, slot in enumerate(layout.slots):
        if slot.component in ("single_proj_out", "ff"):
            bits[1::2, col] = False
    out.append(Schedule(layout, bits))
    return out


@pytest.fixture(scope="module", params=FAMILY_NAMES)
def setup(request, tiny_dirs):
    family = get_family(request.param)
    pipe = load_pipeline(family, str(tiny_dirs[request.param]))
    return family, pipe, _layout(pipe, family)


def _outputs(pipe, family, config, **extra):
    apply_schedule(pipe, config)
    try:
        images = run_pipe(pipe, family, **extra)
        return images, cache_stats(pipe)
    finally:
        remove_schedule(pipe)


@pytest.mark.parametrize("fused", [True, False])
def test_lean_blocks_match_the_reference_engine(setup, fused):
    family, pipe, layout = setup
    for schedule in _schedules(layout):
        ref, ref_stats = _outputs(pipe, family, ScheduleCacheConfig(schedule, lean_blocks=False))
        lean, stats = _outputs(pipe, family, ScheduleCacheConfig(schedule, fused_kernels=fused))
        torch.testing.assert_close(lean, ref, rtol=1e-5, atol=1e-5, msg=schedule.metadata.name)
        assert stats["cached_bytes"] == 0
        assert 0 < stats["peak_cached_bytes"] <= ref_stats["peak_cached_bytes"]


def test_lean_blocks_hook_blocks_not_components(setup):
    _, pipe, layout = setup
    # FORA reuses whole steps: FLUX single-block attention/MLP outputs are then never read.
    consumed = {"single_attn", "single_proj_mlp"}
    expected = sum(slot.component not in consumed for slot in layout.slots)
    apply_schedule(pipe, fora(layout, STEPS, 3))
    try:
        hooked = {
            name
            for _, m in pipe.transformer.named_modules()
            for name in getattr(getattr(m, "_diffusers_hook", None), "hooks", {})
        }
        assert hooked == {"ecad_schedule_block", "ecad_schedule_denoiser"}
        assert cache_stats(pipe)["cached_components"] == expected
    finally:
        remove_schedule(pipe)
    assert not any(
        hasattr(m, "_diffusers_hook")
        for m in pipe.transformer.modules()
        if m is not pipe.transformer
    )


def test_lean_block_runs_a_component_only_at_its_computed_steps(setup):
    family, pipe, layout = setup
    bits = fora(layout, STEPS, 3).bits.copy()
    bits[4, :] = True  # computed at 0, 3, 4
    group = family.block_groups[0]
    block = getattr(pipe.transformer, group.module_list)[0]
    module = getattr(block, group.component_paths[group.components[0]])
    counter = {"step": 0}

    def on_step(*_args):
        counter["step"] += 1
        return {}

    calls = []
    handle = module.register_forward_pre_hook(lambda m, a: calls.append(counter["step"]))
    try:
        apply_schedule(pipe, Schedule(layout, bits))
        if family.kind == "pixart":
            run_pipe(pipe, family, callback=on_step, callback_steps=1)
        else:
            run_pipe(pipe, family, callback_on_step_end=on_step)
    finally:
        handle.remove()
        remove_schedule(pipe)
    assert calls == [0, 3, 4]


def test_flux_true_cfg_matches_the_reference_engine(tiny_dirs):
    family = get_family("flux-dev")
    pipe = load_pipeline(family, str(tiny_dirs["flux-dev"]))
    layout = _layout(pipe, family)
    extra = dict(negative_prompt=["blurry", "blurry"], true_cfg_scale=2.0)
    schedule = random_schedule(layout, STEPS, 0.5, 7)
    ref, _ = _outputs(pipe, family, ScheduleCacheConfig(schedule, lean_blocks=False), **extra)
    lean, _ = _outputs(pipe, family, ScheduleCacheConfig(schedule), **extra)
    torch.testing.assert_close(lean, ref, rtol=1e-5, atol=1e-5)


def test_block_without_recipe_falls_back_to_component_hooks(tiny_dirs, monkeypatch):
    family = get_family("pixart-alpha")
    pipe = load_pipeline(family, str(tiny_dirs["pixart-alpha"]))
    layout = _layout(pipe, family)
    schedule = fora(layout, STEPS, 2)
    ref, _ = _outputs(pipe, family, ScheduleCacheConfig(schedule, lean_blocks=False))
    first = pipe.transformer.transformer_blocks[0]
    monkeypatch.setattr(
        hooks_module, "recipe_for", lambda block: None if block is first else recipe_for(block)
    )
    apply_schedule(pipe, schedule)
    try:
        assert "ecad_schedule_component" in first.attn1._diffusers_hook.hooks
        assert "ecad_schedule_block" in pipe.transformer.transformer_blocks[1]._diffusers_hook.hooks
        torch.testing.assert_close(run_pipe(pipe, family), ref, rtol=1e-5, atol=1e-5)
    finally:
        remove_schedule(pipe)


def test_configurations_a_recipe_does_not_restate_have_no_recipe(tiny_dirs):
    pipe = load_pipeline(get_family("pixart-alpha"), str(tiny_dirs["pixart-alpha"]))
    block = pipe.transformer.transformer_blocks[0]
    assert recipe_for(block) is not None
    block.set_chunk_feed_forward(4, 1)
    try:
        assert recipe_for(block) is None
    finally:
        block.set_chunk_feed_forward(None, 0)


def _recipe(consumers=None):
    return BlockRecipe(("attn", "mlp", "out"), forward=None, consumers=consumers or {})


def test_plan_keeps_only_what_a_later_step_reads():
    eff = {"attn": np.array([1, 0, 0, 1, 0], bool)}
    plan = plan_block(_recipe(), eff, 5)
    assert plan.run["attn"] == (True, False, False, True, False)
    assert plan.keep["attn"] == (True, True, False, True, False)
    assert plan.run["mlp"] == (True,) * 5 and plan.keep["mlp"] == (False,) * 5


def test_plan_skips_outputs_whose_consumer_is_reused():
    consumers = {"attn": "out", "mlp": "out"}
    eff = {
        "attn": np.array([1, 1, 1, 0, 1, 1], bool),
        "mlp": np.array([1, 1, 1, 1, 1, 1], bool),
        "out": np.array([1, 0, 0, 1, 0, 1], bool),
    }
    plan = plan_block(_recipe(consumers), eff, 6)
    # attn at step 2 is read at step 3 (reused there, consumed by out): it runs and is kept.
    assert plan.run["attn"] == (True, False, True, False, False, True)
    assert plan.keep["attn"] == (False, False, True, False, False, False)
    # mlp runs only where out runs; nothing to keep.
    assert plan.run["mlp"] == (True, False, False, True, False, True)
    assert plan.keep["mlp"] == (False,) * 6
    assert plan.keep["out"] == (True, True, False, True, False, False)


def test_lean_blocks_hand_components_contiguous_inputs(tiny_dirs):
    """PixArt's patch embedding returns a transposed stream; the lean forward must not let that
    layout reach the components (every linear would copy its input first)."""
    family = get_family("pixart-alpha")
    pipe = load_pipeline(family, str(tiny_dirs["pixart-alpha"]))
    layout = _layout(pipe, family)
    layouts = []
    handles = [
        getattr(block, name).register_forward_pre_hook(
            lambda m, args: layouts.append(args[0].is_contiguous())
        )
        for block in pipe.transformer.transformer_blocks
        for name in ("attn1", "attn2", "ff")
    ]
    try:
        apply_schedule(pipe, random_schedule(layout, STEPS, 0.5, 3))
        run_pipe(pipe, family)
    finally:
        for handle in handles:
            handle.remove()
        remove_schedule(pipe)
    assert layouts and all(layouts)
