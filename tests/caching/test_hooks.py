"""The caching engine on tiny random-weight pipelines of every family, on the CPU."""

from __future__ import annotations

import pytest
import torch

from ecad.caching import ScheduleCacheConfig, apply_schedule, cache_stats, remove_schedule
from ecad.errors import ScheduleMismatchError
from ecad.families import get_family
from ecad.families.loading import load_pipeline
from ecad.schedules import Schedule, ScheduleLayout
from ecad.schedules.heuristics import fora, no_cache
from tests.caching.tiny_calls import STEPS, run_pipe
from tests.conftest import FAMILY_NAMES


def _layout(pipe, family):
    return ScheduleLayout.for_model(family, pipe.transformer)


def _on_step(family, fn):
    """Per-step callback kwargs: PixArt has the old ``callback``, FLUX ``callback_on_step_end``."""
    if family.kind == "pixart":
        return {"callback": lambda step, t, latents: fn(step), "callback_steps": 1}

    def on_end(_pipe, step, _t, _kwargs):
        fn(step)
        return {}

    return {"callback_on_step_end": on_end}




@pytest.fixture(scope="module", params=FAMILY_NAMES)
def setup(request, tiny_dirs):
    family = get_family(request.param)
    pipe = load_pipeline(family, str(tiny_dirs[request.param]))
    return family, pipe, _layout(pipe, family)


def test_all_recompute_is_bit_identical_and_removal_restores(setup):
    family, pipe, layout = setup
    plain = run_pipe(pipe, family)
    keys = list(pipe.transformer.state_dict())
    apply_schedule(pipe, no_cache(layout, STEPS))
    assert torch.equal(run_pipe(pipe, family), plain)
    apply_schedule(pipe, fora(layout, STEPS, 3))
    cached = run_pipe(pipe, family)
    assert torch.isfinite(cached).all()
    assert not torch.equal(cached, plain)
    again = run_pipe(pipe, family)
    assert torch.equal(again, cached), "second call must not see the first's caches"
    assert list(pipe.transformer.state_dict()) == keys
    remove_schedule(pipe)
    assert torch.equal(run_pipe(pipe, family), plain)
    assert not any(hasattr(m, "_diffusers_hook") for m in pipe.transformer.transformer_blocks)


def test_call_that_raised_midway_leaks_nothing(setup):
    family, pipe, layout = setup
    apply_schedule(pipe, fora(layout, STEPS, 2))
    reference = run_pipe(pipe, family)

    def explode(step):
        if step == 3:
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        run_pipe(pipe, family, **_on_step(family, explode))
    assert torch.equal(run_pipe(pipe, family), reference)
    assert cache_stats(pipe)["cached_bytes"] == 0
    remove_schedule(pipe)


def test_exception_inside_transformer_resets_caches(setup):
    family, pipe, layout = setup
    apply_schedule(pipe, fora(layout, STEPS, 3))
    reference = run_pipe(pipe, family)
    block = pipe.transformer.transformer_blocks[-1]
    calls = {"n": 0}

    def fail_on_third(module, args, kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("inside")

    handle = block.register_forward_pre_hook(fail_on_third, with_kwargs=True)
    try:
        with pytest.raises(RuntimeError, match="inside"):
            run_pipe(pipe, family)
    finally:
        handle.remove()
    assert cache_stats(pipe)["cached_bytes"] == 0
    assert torch.equal(run_pipe(pipe, family), reference)
    remove_schedule(pipe)


def test_step_count_mismatch_is_a_clear_error(setup):
    family, pipe, layout = setup
    apply_schedule(pipe, fora(layout, STEPS, 3))
    with pytest.raises(ScheduleMismatchError, match=f"schedule has {STEPS} steps"):
        run_pipe(pipe, family, num_inference_steps=STEPS + 2)
    remove_schedule(pipe)


def test_wrong_layout_fails_loudly(setup):
    family, pipe, _ = setup
    with pytest.raises(ScheduleMismatchError, match="blocks"):
        apply_schedule(pipe, no_cache(ScheduleLayout.for_family(family), STEPS))
    other = "flux-dev" if family.kind == "pixart" else "pixart-alpha"
    with pytest.raises(ScheduleMismatchError, match="schedule is for"):
        apply_schedule(pipe, no_cache(ScheduleLayout.for_family(other, None), STEPS))


def test_only_reused_components_hold_a_cache(setup):
    family, pipe, layout = setup
    bits = torch.ones(STEPS, layout.num_slots, dtype=torch.bool).numpy()
    bits[2:, 1] = False  # only slot 1 is ever reused
    apply_schedule(pipe, Schedule(layout, bits))
    seen = []

    run_pipe(pipe, family, **_on_step(family, lambda step: seen.append(cache_stats(pipe))))
    assert all(s["cached_components"] == 1 for s in seen)
    assert seen[0]["cached_bytes"] == 0  # slot 1 recomputed at step 1: nothing kept yet
    assert seen[1]["cached_bytes"] > 0
    assert cache_stats(pipe)["cached_bytes"] == 0  # released at the end of the call
    remove_schedule(pipe)


def test_reuse_returns_the_output_of_the_last_computed_step(setup):
    """Semantics on a bare transformer driven step by step (no sampler), with the reference
    engine (component hooks: the module is called at every step and returns its cache)."""
    family, pipe, layout = setup
    layout_slots = layout.slots
    bits = fora(layout, STEPS, 3).bits.copy()
    bits[4, :] = True  # recompute at 0, 3, 4
    schedule = Schedule(layout, bits)
    apply_schedule(pipe.transformer, ScheduleCacheConfig(schedule, lean_blocks=False))
    group = family.block_groups[0]
    target_slot = next(i for i, s in enumerate(layout_slots) if s.group == group.name)
    module = getattr(
        getattr(pipe.transformer, group.module_list)[0],
        group.component_paths[layout_slots[target_slot].component],
    )
    outputs = []
    handle = module.register_forward_hook(lambda m, a, out: outputs.append(out))
    try:
        pipe.transformer.zero_grad()
        for step in range(STEPS):
            _run_transformer_step(pipe, family, step)
    finally:
        handle.remove()
        remove_schedule(pipe.transformer)
    computed = [0, 3, 4]
    for step in range(STEPS):
        last = max(c for c in computed if c <= step)
        assert outputs[step] is outputs[last], step
    assert outputs[1] is outputs[0] and outputs[3] is not outputs[0]


def _run_transformer_step(pipe, family, step):
    torch.manual_seed(step)
    t = pipe.transformer
    with torch.no_grad():
        if family.kind == "pixart":
            cfg = t.config
            t(
                torch.randn(2, cfg.in_channels, 8, 8),
                encoder_hidden_states=torch.randn(2, 5, cfg.caption_channels),
                timestep=torch.tensor([999 - step * 100] * 2),
                added_cond_kwargs={"resolution": None, "aspect_ratio": None},
            )
        else:
            cfg = t.config
            t(
                hidden_states=torch.randn(1, 16, cfg.in_channels),
                encoder_hidden_states=torch.randn(1, 5, cfg.joint_attention_dim),
                pooled_projections=torch.randn(1, cfg.pooled_projection_dim),
                timestep=torch.tensor([1.0 - step / 10]),
                guidance=torch.tensor([3.5]),
                img_ids=torch.zeros(16, 3),
                txt_ids=torch.zeros(5, 3),
            )


def test_flux_true_cfg_branches_keep_their_own_caches(tiny_dirs):
    family = get_family("flux-dev")
    pipe = load_pipeline(family, str(tiny_dirs["flux-dev"]))
    layout = _layout(pipe, family)
    extra = dict(negative_prompt=["blurry", "blurry"], true_cfg_scale=2.0)
    plain = run_pipe(pipe, family, **extra)
    apply_schedule(pipe, no_cache(layout, STEPS))
    assert torch.equal(run_pipe(pipe, family, **extra), plain)
    apply_schedule(pipe, fora(layout, STEPS, 3))
    branches = set()

    def probe(step):
        for m in pipe.transformer.modules():
            registry = getattr(m, "_diffusers_hook", None)
            for name in ("ecad_schedule_component", "ecad_schedule_block"):
                if registry and name in registry.hooks:
                    branches.update(registry.hooks[name].cache)

    cached = run_pipe(pipe, family, **_on_step(family, probe), **extra)
    assert branches == {"cond", "uncond"}
    assert torch.isfinite(cached).all() and not torch.equal(cached, plain)
    assert torch.equal(run_pipe(pipe, family, **extra), cached)
