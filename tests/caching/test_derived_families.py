"""The caching engine on derived families (Sana, Chroma, Lumina 2): tiny pipelines of the real
classes, loaded from save_pretrained directories through ``load_pipeline``, records written by
``ecad family derive``'s code."""

from __future__ import annotations

import inspect

import pytest
import torch

from ecad.caching import apply_schedule, remove_schedule
from ecad.families.loading import load_pipeline
from ecad.schedules import ScheduleLayout, read_schedule, write_schedule
from ecad.schedules.heuristics import fora, no_cache, random_schedule
from tests.caching.every_n import EveryN
from tests.families.tiny_derived import DERIVED_CLASSES

STEPS = 3


@pytest.fixture(scope="module", params=sorted(DERIVED_CLASSES))
def setup(request, derived_family):
    _, _, family = derived_family(request.param)
    pipe = load_pipeline(family, None)  # the record's default weights: the tiny directory
    return family, pipe, ScheduleLayout.for_model(family, pipe.transformer)


def _run(pipe, family):
    """A plain diffusers call: two prompts, STEPS steps, 32 px, fixed seed; tensors out."""
    kwargs = dict(prompt=["a red cube", "two cats"], num_inference_steps=STEPS, height=32,
                  width=32, guidance_scale=family.default_guidance, output_type="pt",
                  generator=torch.Generator().manual_seed(0))
    params = inspect.signature(type(pipe).__call__).parameters
    # Short prompts keep the tiny models fast: 32 text tokens, no Sana instruction preamble.
    optional = {"use_resolution_binning": False, "max_sequence_length": 32,
                "complex_human_instruction": None}
    kwargs.update({k: v for k, v in optional.items() if k in params})
    return pipe(**kwargs).images


def _run_counting_calls(pipe, family) -> tuple[torch.Tensor, int]:
    """The plain images and the transformer calls per step (2 where guidance is two calls)."""
    calls = []
    handle = pipe.transformer.register_forward_pre_hook(lambda *_: calls.append(1))
    try:
        images = _run(pipe, family)
    finally:
        handle.remove()
    assert len(calls) % STEPS == 0
    return images, len(calls) // STEPS


def test_all_recompute_is_bit_identical(setup):
    family, pipe, layout = setup
    plain = _run(pipe, family)
    apply_schedule(pipe, no_cache(layout, STEPS))
    try:
        assert torch.equal(_run(pipe, family), plain)
    finally:
        remove_schedule(pipe)


def test_fora_equals_an_independent_every_n_reuse(setup):
    family, pipe, layout = setup
    n = 2
    plain, per_step = _run_counting_calls(pipe, family)
    groups = {g.name: g for g in family.block_groups}
    swapped = []
    for slot in layout.slots:
        group = groups[slot.group]
        block = getattr(pipe.transformer, group.module_list)[slot.block]
        path = group.component_paths[slot.component]
        swapped.append((block, path, getattr(block, path)))
        setattr(block, path, EveryN(getattr(block, path), n, per_step))
    try:
        expected = _run(pipe, family)
    finally:
        for block, path, module in swapped:
            setattr(block, path, module)
    assert not torch.equal(expected, plain), "the reuse must change the images"
    apply_schedule(pipe, fora(layout, STEPS, n))
    try:
        assert torch.equal(_run(pipe, family), expected)
    finally:
        remove_schedule(pipe)


def test_published_format_round_trips(setup, tmp_path):
    family, _, layout = setup
    schedule = random_schedule(layout, STEPS, 0.5, seed=3)
    path = write_schedule(schedule, tmp_path / "s.json")
    back = read_schedule(path, family=family)
    assert back == schedule and back.digest() == schedule.digest()
    header = {g.header_key for g in family.block_groups}
    assert header <= set(__import__("json").loads(path.read_text())["cache_schedule"])
