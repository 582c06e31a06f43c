"""Wan text-to-video (issue 25) on tiny random-weight pipelines of the real diffusers classes:
the engine against plain diffusers and against an every-n reuse written here without project
code, Wan 2.2's two experts (which transformer runs each step), the linear-only cost against a
count made here with frames, the heuristics and the shipped baselines."""

from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from ecad.caching import (
    ScheduleCacheConfig,
    apply_schedule,
    cache_stats,
    compile_stats,
    remove_schedule,
)
from ecad.caching.experts import pipeline_expert_steps
from ecad.caching.hooks import DENOISER_HOOK
from ecad.caching.recipes import recipe_for
from ecad.cost import macs_table
from ecad.errors import ScheduleMismatchError
from ecad.families import get_family
from ecad.families.loading import load_pipeline, save_tiny_pipeline
from ecad.generation.adapters import adapter_for
from ecad.schedules import ScheduleLayout, read_schedule
from ecad.schedules.baselines import baseline_schedules
from ecad.schedules.heuristics import fora, no_cache, random_schedule
from tests.caching.every_n import EveryN
from tests.caching.replay_graph import ReplayGraph
from tests.conftest import REPO_ROOT

WAN21, WAN22 = "wan2.1-t2v-1.3b", "wan2.2-t2v-a14b"
PROMPTS = ["a red cube", "two cats on a sofa"]
TEXT_TOKENS = 24
FRAMES, SIZE = 5, 32
#: Wan 2.2's tiny build switches experts at step 5 of 7 (shift 12, boundary 0.875): the
#: low-noise expert's first step is not a multiple of 2 or 3, so FORA must recompute it.
STEPS = {WAN21: 4, WAN22: 7}
CALLS_PER_STEP = 2  # the negative prompt is a second transformer call


@pytest.fixture(scope="module", params=[WAN21, WAN22])
def loaded(request, tmp_path_factory):
    family = get_family(request.param)
    directory = save_tiny_pipeline(family, tmp_path_factory.mktemp("wan") / family.name)
    pipe = load_pipeline(family, str(directory))  # a local directory: the hub id's path
    embeddings = adapter_for(family).embed(pipe, PROMPTS, TEXT_TOKENS)
    return family, pipe, embeddings


def _run(family, pipe, embeddings, steps, size=SIZE, frames=FRAMES, guidance_2=None):
    adapter = adapter_for(family)
    gens = [torch.Generator().manual_seed(i) for i in range(len(PROMPTS))]
    return pipe(
        **adapter.call_kwargs(embeddings),
        **adapter.guidance_kwargs(family.default_guidance, guidance_2),
        **adapter.noise_kwargs(pipe, gens, size, size, "cpu", torch.float32, frames=frames),
        num_inference_steps=steps,
        height=size,
        width=size,
        num_frames=frames,
        output_type="latent",
    ).frames


def _cached(family, pipe, embeddings, config, steps):
    apply_schedule(pipe, config)
    try:
        return _run(family, pipe, embeddings, steps), cache_stats(pipe)
    finally:
        remove_schedule(pipe)


def test_all_recompute_is_bit_identical_and_removal_restores(loaded):
    family, pipe, embeddings = loaded
    steps = STEPS[family.name]
    plain = _run(family, pipe, embeddings, steps)
    layout = ScheduleLayout.for_model(family, pipe.transformer)
    cached, stats = _cached(family, pipe, embeddings, no_cache(layout, steps), steps)
    assert torch.equal(cached, plain)
    assert stats["cached_components"] == 0
    assert torch.equal(_run(family, pipe, embeddings, steps), plain)


def test_two_expert_layout_maps_steps_to_the_transformer_that_runs_them(loaded):
    family, pipe, embeddings = loaded
    steps = STEPS[family.name]
    names = family.experts
    ran: list[str] = []
    hooks = [
        getattr(pipe, name).register_forward_pre_hook(lambda *_, n=name: ran.append(n))
        for name in names
    ]
    try:
        _run(family, pipe, embeddings, steps)
    finally:
        for hook in hooks:
            hook.remove()
    per_step = [ran[t * CALLS_PER_STEP : (t + 1) * CALLS_PER_STEP] for t in range(steps)]
    assert len(ran) == steps * CALLS_PER_STEP and all(len(set(c)) == 1 for c in per_step)
    layout = ScheduleLayout.for_model(family, pipe.transformer)
    expected = [names[e] for e in layout.expert_of_steps(steps)]
    assert [c[0] for c in per_step] == expected
    assert pipeline_expert_steps(pipe, steps) == layout.expert_of_steps(steps)
    if family.name == WAN22:
        assert expected == ["transformer"] * 5 + ["transformer_2"] * 2
        assert family.expert_starts(steps) == (0, 5)
        fora2 = fora(layout, steps, 2)
        assert not fora2.bits[5].any() and fora2.effective()[5].all()  # step 5: a first step
        # the published 40 steps: 26 high-noise steps, then 14 low-noise ones
        assert layout.expert_of_steps(40) == (0,) * 26 + (1,) * 14


class _AtSteps(torch.nn.Module):
    """Independent FORA on one expert: computes at the global steps that are multiples of ``n``
    and at the expert's own first step (``first``), returns that output between; each call of
    a step (prompt, negative prompt) keeps its own output."""

    def __init__(self, inner, n, first):
        super().__init__()
        self.inner, self.n, self.first = inner, n, first
        self.calls, self.kept = 0, {}

    def forward(self, *args, **kwargs):
        local, branch = divmod(self.calls, CALLS_PER_STEP)
        self.calls += 1
        step = self.first + local
        if step % self.n == 0 or step == self.first:
            self.kept[branch] = self.inner(*args, **kwargs)
        return self.kept[branch]


def _swap(family, transformer, wrap):
    swapped = []
    for block in transformer.blocks:
        for path in family.block_groups[0].component_paths.values():
            module = getattr(block, path)
            setattr(block, path, wrap(module))
            swapped.append((block, path, module))
    return swapped


@pytest.mark.parametrize("n", [2, 3])
def test_fora_equals_an_independent_every_n_reuse(loaded, n):
    family, pipe, embeddings = loaded
    steps = STEPS[family.name]
    layout = ScheduleLayout.for_model(family, pipe.transformer)
    plain = _run(family, pipe, embeddings, steps)
    cached, stats = _cached(
        family, pipe, embeddings, ScheduleCacheConfig(fora(layout, steps, n)), steps
    )
    assert stats["cached_bytes"] == 0 and stats["peak_cached_bytes"] > 0
    swapped = []
    starts = family.expert_starts(steps)
    for index, name in enumerate(family.experts):
        first = starts[index]
        if family.name == WAN21:  # one transformer: the shared EveryN helper
            swapped += _swap(family, getattr(pipe, name), lambda m: EveryN(m, n, CALLS_PER_STEP))
        else:
            swapped += _swap(family, getattr(pipe, name), lambda m, f=first: _AtSteps(m, n, f))
    try:
        independent = _run(family, pipe, embeddings, steps)
    finally:
        for block, path, module in swapped:
            setattr(block, path, module)
    assert not torch.equal(cached, plain)
    assert torch.equal(cached, independent)


def test_all_reused_blocks_take_the_one_pass_update(loaded, monkeypatch):
    """Where a block reuses all three components, the lean forward hands its three updates to
    ``kernels.rounded_block`` (CUDA only; here a stand-in doing diffusers' op-by-op updates on
    what it is given), with the caches and gates in the block's order: same output, every
    block of every all-reused step."""
    from ecad.caching import recipe_wan
    from tests.caching.test_recipe_wan import _op_by_op

    family, pipe, embeddings = loaded
    steps = STEPS[family.name]
    schedule = fora(ScheduleLayout.for_model(family, pipe.transformer), steps, 2)
    config = ScheduleCacheConfig(schedule)
    expected, _ = _cached(family, pipe, embeddings, config, steps)
    calls = []

    def one_pass(hidden, values, gates):
        calls.append(hidden.shape)
        return _op_by_op(hidden, values, gates)

    monkeypatch.setattr(recipe_wan, "rounded_block_applies", lambda *args: True)
    monkeypatch.setattr(recipe_wan, "rounded_block", one_pass)
    got, _ = _cached(family, pipe, embeddings, config, steps)
    assert torch.equal(got, expected)
    reused_steps = int((~schedule.effective().any(axis=1)).sum())  # FORA: whole steps
    assert reused_steps > 0
    assert len(calls) == reused_steps * len(pipe.transformer.blocks) * CALLS_PER_STEP


def test_lean_blocks_equal_the_component_engine_exactly(loaded):
    family, pipe, embeddings = loaded
    steps = STEPS[family.name]
    assert all(recipe_for(b) is not None for b in pipe.transformer.blocks)
    layout = ScheduleLayout.for_model(family, pipe.transformer)
    for schedule in (fora(layout, steps, 2), random_schedule(layout, steps, 0.5, 1)):
        component, _ = _cached(
            family, pipe, embeddings, ScheduleCacheConfig(schedule, False), steps
        )
        lean, stats = _cached(family, pipe, embeddings, ScheduleCacheConfig(schedule), steps)
        assert torch.equal(lean, component), schedule.metadata.name
        assert stats["cached_bytes"] == 0 and stats["peak_cached_bytes"] > 0


@pytest.mark.parametrize("loaded", [WAN22], indirect=True)  # the two-expert model only
def test_a_two_expert_schedule_is_refused_on_one_transformer_or_another_boundary(loaded):
    family, pipe, _ = loaded
    layout = ScheduleLayout.for_model(family, pipe.transformer)
    with pytest.raises(ScheduleMismatchError, match="apply its schedule to the pipeline"):
        apply_schedule(pipe.transformer, fora(layout, 7, 2))
    ratio = pipe.config.boundary_ratio
    pipe.register_to_config(boundary_ratio=0.5)
    try:
        with pytest.raises(ScheduleMismatchError, match="switches experts at other steps"):
            apply_schedule(pipe, fora(layout, 7, 2))
    finally:
        pipe.register_to_config(boundary_ratio=ratio)


@pytest.mark.parametrize("loaded", [WAN21], indirect=True)  # both experts share the architecture
@pytest.mark.parametrize(("size", "frames"), [(32, 5), (48, 9)])
def test_linear_macs_equal_an_independent_count_with_frames(loaded, size, frames):
    family, pipe, embeddings = loaded
    transformer = pipe.transformer
    seen = []
    hook = transformer.register_forward_pre_hook(
        lambda _m, _a, kwargs: seen.append(kwargs) if not seen else None, with_kwargs=True
    )
    try:
        _run(family, pipe, embeddings, 1, size, frames)
    finally:
        hook.remove()
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        transformer(**seen[0])
    counts = counter.get_flop_counts()
    linear = sum(
        sum(counts.get(f"WanTransformer3DModel.{name}", {}).values())
        for name, module in transformer.named_modules()
        if isinstance(module, (torch.nn.Linear, torch.nn.Conv3d))
    )
    config = {k: v for k, v in transformer.config.items() if not k.startswith("_")}
    batch = seen[0]["hidden_states"].shape[0]  # the prompts; the negative is another call
    table = macs_table(
        family, size, batch, "macs-linear", TEXT_TOKENS, config, frames=frames, width=size
    )
    assert table.base + table.slot_costs.sum() == linear / 2
    assert table.frames == frames and table.width == size
    full = macs_table(family, 480, 2, "macs", frames=33)
    longer = macs_table(family, 480, 2, "macs", frames=81)
    assert full.width == 832 and longer.slot_costs.sum() > 2.4 * full.slot_costs.sum()


@pytest.mark.parametrize("name", [WAN21, "wan2.1-t2v-14b", WAN22])
def test_heuristics_include_tgate_and_the_shipped_baselines_read_back(name):
    family = get_family(name)
    assert family.components_with_role("cross_attention") == ("attn2",)
    layout = ScheduleLayout.for_family(family)
    names = [s.metadata.name for s in baseline_schedules(layout, family.default_steps)]
    assert names[:6] == [
        "no-cache",
        "fora-2",
        "fora-3",
        "fora-4",
        "attention-every-2",
        "attention-every-3",
    ]
    assert names[6].startswith("tgate_without_ca_avg")
    for schedule in baseline_schedules(layout, family.default_steps):
        shipped = REPO_ROOT / "schedules" / family.name / f"{schedule.metadata.name}.json"
        assert read_schedule(shipped, family=family.name) == schedule


@pytest.mark.parametrize("name", [WAN21, WAN22])
def test_full_size_random_pipeline_builds_with_its_experts(name):
    from ecad.bench.fullsize import random_embeddings, random_pipeline

    family = get_family(name)
    pipe = random_pipeline(family, 480, device="meta", blocks={"blocks": 1})
    experts = [getattr(pipe, n) for n in family.experts]
    assert all(e is not None and e.dtype == torch.bfloat16 for e in experts)
    assert len({id(e) for e in experts}) == len(family.experts)
    assert (pipe.config.boundary_ratio is not None) == (name == WAN22)
    assert pipeline_expert_steps(pipe, family.default_steps) == family.expert_of_steps(
        family.default_steps
    )  # the released sampler's shift: the layout's map holds for the benchmark's pipeline
    embeddings = random_embeddings(pipe, family, 1)
    assert embeddings["prompt_embeds"].shape == (1, 512, 4096)


class _CountingBackend:
    """Counts the graphs dynamo hands it and runs them as traced (no inductor on the CPU)."""

    def __init__(self) -> None:
        self.graphs = 0

    def __call__(self, gm, example_inputs):
        self.graphs += 1
        return gm.forward


@pytest.mark.slow
def test_compiles_once_per_pattern_and_matches_eager(loaded):
    """The lean Wan forward under ``fullgraph=True`` (its two-pass gated adds fall back to the
    plain expression inside the graph): one compilation per step pattern and guidance branch
    (Wan 2.2: per expert, of the steps it runs), outputs equal to the eager cached run's."""
    family, pipe, embeddings = loaded
    steps = 6
    layout = ScheduleLayout.for_model(family, pipe.transformer)
    schedule = fora(layout, steps, 3)
    eager, _ = _cached(family, pipe, embeddings, schedule, steps)
    torch._dynamo.reset()
    backend = _CountingBackend()
    config = ScheduleCacheConfig(schedule, compile="default", compile_backend=backend)
    apply_schedule(pipe, config)
    try:
        compiled = _run(family, pipe, embeddings, steps)
        first = backend.graphs
        again = _run(family, pipe, embeddings, steps)
        stats = compile_stats(pipe)
    finally:
        remove_schedule(pipe)
        torch._dynamo.reset()
    if family.name == WAN21:
        assert stats["patterns"] == 4  # as FORA-3 on the image families
    else:
        assert [sum(e["patterns"] for e in stats["experts"])] == [stats["patterns"]]
        assert len(stats["experts"]) == 2 and all(e["patterns"] for e in stats["experts"])
    # one graph per pattern and guidance branch (two calls a step); the second call none
    assert first == backend.graphs == 2 * stats["patterns"]
    torch.testing.assert_close(compiled, eager, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(again, eager, rtol=1e-5, atol=1e-5)


@pytest.mark.slow
def test_cuda_graph_path_replays_each_experts_patterns(loaded):
    """``reduce-overhead``'s path (static cache buffers, one captured graph per pattern and
    branch, replays) on the CPU with a stand-in graph: per expert, and equal to eager."""
    family, pipe, embeddings = loaded
    steps = 6
    schedule = fora(ScheduleLayout.for_model(family, pipe.transformer), steps, 3)
    eager, _ = _cached(family, pipe, embeddings, schedule, steps)
    config = ScheduleCacheConfig(schedule, compile="reduce-overhead", compile_backend=None)
    apply_schedule(pipe, config)
    try:
        for expert in ("transformer", "transformer_2"):
            module = getattr(pipe, expert, None)
            if module is not None:
                runner = module._diffusers_hook.hooks[DENOISER_HOOK].runner
                runner.graph_class, runner.graphs_on_cpu = ReplayGraph, True
        first = _run(family, pipe, embeddings, steps)
        again = _run(family, pipe, embeddings, steps)  # replays only
        stats = compile_stats(pipe)
    finally:
        remove_schedule(pipe)
    assert stats["graphs"] == 2 * stats["patterns"] and stats["static_cache_bytes"] > 0
    torch.testing.assert_close(first, eager, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(again, eager, rtol=1e-5, atol=1e-5)


def test_wan22_low_noise_expert_samples_with_its_own_guidance(loaded):
    """The model card's two guidance values reach the pipeline: Wan 2.2's low-noise expert
    runs at 3.0 (guidance_scale_2), the high-noise one at 4.0; Wan 2.1 has one."""
    family, pipe, embeddings = loaded
    kwargs = adapter_for(family).guidance_kwargs(family.default_guidance, family.default_guidance_2)
    if family.name == WAN21:
        assert kwargs == {"guidance_scale": 5.0}
        return
    assert kwargs == {"guidance_scale": 4.0, "guidance_scale_2": 3.0}
    steps = STEPS[family.name]
    one = _run(family, pipe, embeddings, steps)  # 4.0 for both experts
    two = _run(family, pipe, embeddings, steps, guidance_2=family.default_guidance_2)
    assert not torch.equal(one, two)  # the low-noise steps (5 and 6) ran at 3.0
