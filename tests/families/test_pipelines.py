"""A family's other pipelines (img2img, inpainting, ControlNet, edit) on tiny random-weight
builds of the real diffusers classes: the same schedule applies, schedule row = sampler step
(a pipeline with ``strength`` < 1 starts at row ``int(N - s N)``), and a wrong step count or a
pipeline that hides where it starts is refused."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from ecad.caching import (
    ScheduleCacheConfig,
    apply_schedule,
    cache_stats,
    compile_stats,
    remove_schedule,
)
from ecad.caching.state import CallState
from ecad.errors import FamilyError, ScheduleMismatchError
from ecad.families import FAMILIES, get_family
from ecad.families.pipelines import PIPELINE_ROLES, build_tiny_variant
from ecad.generation.adapters import adapter_for
from ecad.schedules import Schedule, ScheduleLayout
from ecad.schedules.heuristics import fora, no_cache
from tests.caching.every_n import EveryN, ReuseAt

STEPS = 6
#: Strength of the part-way runs: int(6 - 0.5 * 6) = 3, so rows 3, 4, 5 run; with FORA-2 an
#: every-2 reuse counted from the first step run (3, 5) differs from the sampler's (4).
STRENGTH = 0.5
START = 3
PROMPTS = ["a red cube", "two cats"]
TEXT_TOKENS = {"flux": 32, "sd3": 24, "qwen-image": 224, "flux2": 224}
CASES = [(f.name, p.pipeline_class) for f in FAMILIES.values() for p in f.pipelines if p.tested]
IMG2IMG = [c for c in CASES if "Img2Img" in c[1]]


def _image(seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8))


_MASK = Image.fromarray(np.pad(np.full((32, 32), 255, np.uint8), 16))
ROLE_KWARGS = {
    "img2img": {"image": _image(1)},
    "inpaint": {"image": _image(1), "mask_image": _MASK},
    "controlnet": {"control_image": _image(2)},
    "edit": {"image": _image(1)},
}
#: The edit pipelines size their work to ~1 MP by default; 64 px keeps the tiny runs tiny.
CLASS_KWARGS = {"FluxKontextPipeline": {"max_area": 64 * 64, "_auto_resize": False}}


@pytest.fixture(scope="module")
def embedded():
    """Prompt embeddings per family, from its tiny text-to-image build (made once)."""
    cache: dict[str, dict] = {}

    def get(family):
        if family.name not in cache:
            base = family.build_tiny_pipeline(seed=0)
            cache[family.name] = adapter_for(family).embed(base, PROMPTS, TEXT_TOKENS[family.kind])
        return cache[family.name]

    return get


@pytest.fixture(scope="module", params=CASES, ids=[c[1] for c in CASES])
def case(request, embedded):
    family = get_family(request.param[0])
    entry = next(p for p in family.pipelines if p.pipeline_class == request.param[1])
    pipe = build_tiny_variant(family, entry.pipeline_class)
    assert type(pipe).__name__ == entry.pipeline_class
    if entry.controlnet_class:
        assert type(pipe.controlnet).__name__ == entry.controlnet_class
    return family, entry, pipe, embedded(family)


@pytest.fixture(autouse=True)
def _small_edit_reference(monkeypatch):
    """Qwen-Image-Edit resizes its reference image to ~1 MP whatever the output size; the tiny
    runs resize it to 64 px instead (the transformer sees fewer reference tokens, nothing else
    changes)."""
    from diffusers.pipelines.qwenimage import pipeline_qwenimage_edit as edit

    monkeypatch.setattr(edit, "calculate_dimensions", lambda area, ratio: (64, 64, None))


def _run(case, steps=STEPS, strength=None):
    family, entry, pipe, embeddings = case
    adapter = adapter_for(family)
    extra = dict(ROLE_KWARGS[entry.role], **CLASS_KWARGS.get(entry.pipeline_class, {}))
    if entry.strength:
        extra["strength"] = STRENGTH if strength is None else strength
    return pipe(
        **adapter.call_kwargs(embeddings),
        **adapter.guidance_kwargs(family.default_guidance),
        **extra,
        num_inference_steps=steps,
        height=64,
        width=64,
        output_type="latent",
        generator=torch.Generator().manual_seed(0),
    ).images


def _cached(case, config, **kwargs):
    pipe = case[2]
    apply_schedule(pipe, config)
    try:
        return _run(case, **kwargs), cache_stats(pipe)
    finally:
        remove_schedule(pipe)


def _owners(family, transformer):
    """``(owner, attribute, module)`` of every component module the family record names."""
    for group in family.block_groups:
        for block in getattr(transformer, group.module_list):
            for component in group.components:
                *parents, leaf = group.component_paths[component].split(".")
                owner = block
                for name in parents:
                    owner = getattr(owner, name)
                if getattr(owner, leaf, None) is not None:
                    yield owner, leaf, getattr(owner, leaf)


def _every_n(case, n, calls_per_step, first_step):
    return _wrapped(case, lambda module: EveryN(module, n, calls_per_step, first_step))


def _wrapped(case, wrap):
    family, _, pipe, _ = case
    owners = list(_owners(family, pipe.transformer))
    for owner, name, module in owners:
        setattr(owner, name, wrap(module))
    try:
        return _run(case)
    finally:
        for owner, name, module in owners:
            setattr(owner, name, module)


def test_every_family_lists_its_pipelines():
    import diffusers

    assert {c[0] for c in CASES} == {"flux-dev", "sd3.5-large", "qwen-image", "flux2-dev"}
    for name in ("flux-dev", "sd3.5-large", "qwen-image", "flux2-dev"):
        family = get_family(name)
        assert family.pipelines and all(p.role in PIPELINE_ROLES for p in family.pipelines)
        for entry in family.pipelines:
            assert hasattr(diffusers, entry.pipeline_class), entry.pipeline_class
    assert get_family("pixart-alpha").pipelines == ()
    with pytest.raises(FamilyError, match="not one of family pixart-alpha's pipelines"):
        build_tiny_variant(get_family("pixart-alpha"), "FluxImg2ImgPipeline")


def test_all_recompute_is_bit_identical(case):
    family, _, pipe, _ = case
    plain = _run(case)
    layout = ScheduleLayout.for_model(family, pipe.transformer)
    cached, _ = _cached(case, no_cache(layout, STEPS))
    assert torch.equal(cached, plain)


def test_fora_follows_sampler_steps(case):
    """FORA-2 equals an every-2 reuse written here, counted in sampler steps from the step the
    pipeline starts at; cache stats name the rows that ran."""
    family, entry, pipe, _ = case
    start = START if entry.strength else 0
    calls = []
    counter = pipe.transformer.register_forward_pre_hook(lambda *_: calls.append(1))
    try:
        plain = _run(case)
    finally:
        counter.remove()
    ran = STEPS - start
    calls_per_step = len(calls) // ran
    assert len(calls) == ran * calls_per_step
    layout = ScheduleLayout.for_model(family, pipe.transformer)
    schedule = fora(layout, STEPS, 2)
    component, stats = _cached(case, ScheduleCacheConfig(schedule, lean_blocks=False))
    lean, lean_stats = _cached(case, schedule)
    assert (stats["start_row"], stats["steps_run"]) == (start, ran)
    assert (lean_stats["start_row"], lean_stats["steps_run"]) == (start, ran)
    independent = _every_n(case, 2, calls_per_step, first_step=start)
    assert not torch.equal(component, plain)
    assert torch.equal(component, independent)
    torch.testing.assert_close(lean, independent, rtol=1e-5, atol=1e-5)
    if start:  # rows counted from the first step run would be another schedule
        assert not torch.equal(component, _every_n(case, 2, calls_per_step, first_step=0))


def test_step_count_mismatch_is_refused(case):
    family, _, pipe, _ = case
    apply_schedule(pipe, fora(ScheduleLayout.for_model(family, pipe.transformer), STEPS, 2))
    try:
        with pytest.raises(
            ScheduleMismatchError,
            match=rf"schedule has {STEPS} steps but the "
            rf"sampler runs {STEPS + 2}.*num_inference_steps={STEPS}",
        ):
            _run(case, steps=STEPS + 2)
        assert cache_stats(pipe)["cached_bytes"] == 0
    finally:
        remove_schedule(pipe)


@pytest.mark.parametrize("case", IMG2IMG[:1], ids=[c[1] for c in IMG2IMG[:1]], indirect=True)
def test_the_entry_row_keeps_what_its_row_keeps(case):
    """Only row START + 1 reuses: the entry into row START computes and keeps for it, though
    row 0 (forced to recompute) would keep nothing; both engines match a wrapper that reuses at
    sampler step START + 1 only."""
    family, _, pipe, _ = case
    layout = ScheduleLayout.for_model(family, pipe.transformer)
    bits = np.ones((STEPS, layout.num_slots), bool)
    bits[START + 1] = False
    schedule = Schedule(layout, bits)
    plain = _run(case)
    component, _ = _cached(case, ScheduleCacheConfig(schedule, lean_blocks=False))
    lean, _ = _cached(case, schedule)
    independent = _wrapped(case, lambda m: ReuseAt(m, {START + 1}, 1, first_step=START))
    assert not torch.equal(component, plain)
    assert torch.equal(component, independent)
    torch.testing.assert_close(lean, independent, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("case", IMG2IMG[:1], ids=[c[1] for c in IMG2IMG[:1]], indirect=True)
def test_compiled_engine_enters_part_way(case):
    """Compiled (dynamo, eager backend): the entry row is one more pattern; same latents."""
    family, _, pipe, _ = case
    schedule = fora(ScheduleLayout.for_model(family, pipe.transformer), STEPS, 2)
    eager, _ = _cached(case, schedule)
    torch._dynamo.reset()
    try:
        apply_schedule(
            pipe, ScheduleCacheConfig(schedule, compile="default", compile_backend="eager")
        )
        compiled = _run(case)
        stats = compile_stats(pipe)
    finally:
        remove_schedule(pipe)
        torch._dynamo.reset()
    torch.testing.assert_close(compiled, eager, rtol=1e-5, atol=1e-5)
    # Rows 3 (its entry: compute, nothing kept), 4 (compute, keep) and 5 (reuse).
    assert stats["compiled"] == 3


@pytest.mark.parametrize("case", IMG2IMG, ids=[c[1] for c in IMG2IMG], indirect=True)
def test_a_start_hidden_from_the_sampler_is_refused(case):
    """A pipeline that starts part-way without ``set_begin_index``: the sampler finds its start
    from the timestep only after the first step, and the jump is refused, not mis-mapped."""
    family, _, pipe, _ = case
    apply_schedule(pipe, fora(ScheduleLayout.for_model(family, pipe.transformer), STEPS, 2))
    pipe.scheduler.set_begin_index = lambda begin_index=0: None
    try:
        with pytest.raises(ScheduleMismatchError, match=r"from step 0 to step 4.*set_begin_index"):
            _run(case)
    finally:
        del pipe.scheduler.set_begin_index
        remove_schedule(pipe)


class _Sampler:
    """The parts of a diffusers sampler the step tracker reads."""

    def __init__(self, steps: int, begin: int | None) -> None:
        self.timesteps = torch.arange(steps, 0, -1)
        self.begin_index, self.step_index = begin, None


def test_rows_follow_the_sampler_and_enter_with_nothing_cached():
    call = CallState(6)
    call.pattern_of = tuple(range(12))
    sampler = _Sampler(6, begin=2)
    seen = []
    for index in (None, 3, 4, 5):
        sampler.step_index = index
        for branch in ("cond", "uncond"):
            call.begin_forward(sampler, branch)
            seen.append((call.true_step, call.step, call.branch))
    # Row 2 runs as its entry row (6 + 2) for both branches; then rows 3..5 as scheduled.
    assert seen[:2] == [(2, 8, "cond"), (2, 8, "uncond")]
    assert [s[:2] for s in seen[2::2]] == [(3, 3), (4, 4), (5, 5)]
    assert (call.start, call.steps_run) == (2, 4)
    sampler = _Sampler(6, begin=None)  # a new call: from row 0, row 0 is its own entry
    call.begin_forward(sampler, "cond")
    assert (call.true_step, call.step, call.start) == (0, 0, 0)


def test_true_tgate_refuses_to_start_part_way():
    call = CallState(6)
    call.refuse_partial = "schedule 'tgate' is true TGATE"
    call.begin_forward(_Sampler(6, begin=0), "default")  # a full run is fine
    with pytest.raises(ScheduleMismatchError, match=r"starts at sampler step 2.*true TGATE"):
        call.begin_forward(_Sampler(6, begin=2), "default")


def test_family_show_lists_the_pipelines():
    import json

    from click.testing import CliRunner

    from ecad.cli.main import cli

    runner = CliRunner()
    text = runner.invoke(cli, ["family", "show", "qwen-image", "--no-macs"])
    assert text.exit_code == 0, text.output
    assert "row = sampler step" in text.output
    assert "QwenImageEditPipeline (Qwen/Qwen-Image-Edit)" in text.output
    assert "QwenImageImg2ImgPipeline (strength)" in text.output
    shown = runner.invoke(cli, ["family", "show", "flux-dev", "--no-macs", "--json"])
    pipelines = json.loads(shown.output)["other_pipelines"]
    assert {p["pipeline_class"] for p in pipelines} == {
        p.pipeline_class for p in get_family("flux-dev").pipelines
    }
    none = runner.invoke(cli, ["family", "show", "pixart-sigma", "--no-macs"])
    assert "other pipelines: none in diffusers" in none.output
