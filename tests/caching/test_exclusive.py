"""An ECAD schedule and diffusers' own caches do not stack, in either order; removing a schedule
leaves other hooks in place."""

from __future__ import annotations

import pytest
import torch
from diffusers.hooks import FirstBlockCacheConfig, HookRegistry, ModelHook
from diffusers.hooks.first_block_cache import apply_first_block_cache

from ecad.caching import apply_schedule, remove_schedule
from ecad.errors import ConfigError
from ecad.families import get_family
from ecad.families.loading import load_pipeline
from ecad.schedules import ScheduleLayout
from ecad.schedules.heuristics import fora
from tests.caching.tiny_calls import STEPS, run_pipe

FAMILY = "flux-dev"  # its transformer has diffusers' CacheMixin (enable_cache)


@pytest.fixture
def pipe(tiny_dirs):
    return load_pipeline(get_family(FAMILY), str(tiny_dirs[FAMILY]))


def schedule(pipe):
    return fora(ScheduleLayout.for_model(get_family(FAMILY), pipe.transformer), STEPS, 2)


def test_a_schedule_refuses_an_active_diffusers_cache(pipe):
    pipe.transformer.enable_cache(FirstBlockCacheConfig(threshold=0.2))
    with pytest.raises(ConfigError, match=r"another cache is active on this "
                       r"FluxTransformer2DModel \(FirstBlockCacheConfig, hook 'fbc_block_hook'"):
        apply_schedule(pipe, schedule(pipe))
    pipe.transformer.disable_cache()
    apply_schedule(pipe, schedule(pipe))


def test_hooks_installed_without_enable_cache_are_found_too(pipe):
    apply_first_block_cache(pipe.transformer, FirstBlockCacheConfig(threshold=0.2))
    with pytest.raises(ConfigError, match="hook 'fbc_block_hook'"):
        apply_schedule(pipe, schedule(pipe))


def test_diffusers_enable_cache_refuses_to_stack_on_a_schedule(pipe):
    apply_schedule(pipe, schedule(pipe))
    with pytest.raises(ValueError, match=r"Caching has already been enabled with .*ScheduleCache"):
        pipe.transformer.enable_cache(FirstBlockCacheConfig(threshold=0.2))
    apply_schedule(pipe, schedule(pipe))  # replacing our own schedule is fine
    remove_schedule(pipe)
    assert not pipe.transformer.is_cache_enabled
    pipe.transformer.enable_cache(FirstBlockCacheConfig(threshold=0.2))


class Doubler(ModelHook):
    def post_forward(self, module, output):
        return output * 2 if torch.is_tensor(output) else output


def test_remove_schedule_leaves_other_hooks_alone(pipe):
    plain = run_pipe(pipe, get_family(FAMILY))
    block = pipe.transformer.transformer_blocks[0]
    HookRegistry.check_if_exists_or_initialize(block.ff).register_hook(Doubler(), "user_hook")
    hooked = run_pipe(pipe, get_family(FAMILY))
    assert not torch.equal(hooked, plain)
    apply_schedule(pipe, schedule(pipe))
    remove_schedule(pipe)
    assert "user_hook" in block.ff._diffusers_hook.hooks
    assert torch.equal(run_pipe(pipe, get_family(FAMILY)), hooked)
