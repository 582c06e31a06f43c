"""Today's families (issue 22) on tiny random-weight pipelines of the real diffusers classes:
the engine against plain diffusers and against an every-n reuse written here without project
code, the published JSON format, the linear-only cost against a count made here, and one
generation of a local search."""

from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from ecad.bench.fullsize import random_embeddings, random_pipeline
from ecad.caching import ScheduleCacheConfig, apply_schedule, cache_stats, remove_schedule
from ecad.caching.recipes import recipe_for
from ecad.caching.targets import slot_targets
from ecad.cost import macs_table
from ecad.errors import ConfigError, ScheduleFormatError
from ecad.families import FAMILIES, get_family
from ecad.families.loading import load_pipeline
from ecad.generation.adapters import adapter_for
from ecad.schedules import ScheduleLayout, read_schedule, write_schedule
from ecad.schedules.baselines import baseline_schedules
from ecad.schedules.catalog import HeuristicCall
from ecad.schedules.heuristics import attention_every, fora, no_cache, random_schedule
from ecad.search import load_spec, run_search
from ecad.store import FilesystemStore
from tests.caching.every_n import EveryN
from tests.conftest import FIRST_CLASS_NAMES, REPO_ROOT
from tests.search.conftest import write_spec

STEPS = 6
PROMPTS = ["a red cube", "two cats on a sofa"]
#: Text tokens to embed to: enough to hold the prompt after the chat template and system message
#: of Qwen-Image and FLUX.2 (about 200 byte tokens); the pipelines' defaults (256-512) only slow
#: the tiny models down.
TEXT_TOKENS = {"sd3": 24, "qwen-image": 224, "flux2": 224}
#: How each pipeline is called with plain prompts to give the adapter's embeddings.
PROMPT_CALL = {"sd3": {"negative_prompt": ""}, "qwen-image": {"negative_prompt": " "}}
#: Blocks without a lean forward (``ecad.caching.recipes``), whose components are hooked one by
#: one: SD3's last, context-pre-only block.
NOT_LEAN = {"sd3.5-large": 1}
#: Text tokens the transformer sees beyond ``max_sequence_length``: SD3 puts its two CLIP
#: encoders' 77 tokens before the T5 tokens.
EXTRA_TEXT = {"sd3": 77}


@pytest.fixture(scope="module", params=FIRST_CLASS_NAMES)
def loaded(request, tiny_dirs):
    family = get_family(request.param)
    pipe = load_pipeline(family, str(tiny_dirs[request.param]))
    embeddings = adapter_for(family).embed(pipe, PROMPTS, TEXT_TOKENS[family.kind])
    return family, pipe, embeddings


def _noise(family, pipe, resolution):
    gens = [torch.Generator().manual_seed(i) for i in range(len(PROMPTS))]
    return adapter_for(family).latents(pipe, gens, resolution, resolution)


def _run(family, pipe, embeddings, resolution=64, steps=STEPS):
    """One denoising run from precomputed embeddings, as ``ecad generate`` calls the pipeline."""
    adapter = adapter_for(family)
    return pipe(
        **adapter.call_kwargs(embeddings),
        **adapter.guidance_kwargs(family.default_guidance),
        latents=_noise(family, pipe, resolution),
        num_inference_steps=steps,
        height=resolution,
        width=resolution,
        output_type="latent",
    ).images


def _cached_run(family, pipe, embeddings, config):
    apply_schedule(pipe, config)
    try:
        return _run(family, pipe, embeddings), cache_stats(pipe)
    finally:
        remove_schedule(pipe)


def _component_owners(family, transformer):
    """``(block, attribute, module)`` of every component module the family record names."""
    for group in family.block_groups:
        for block in getattr(transformer, group.module_list):
            for component in group.components:
                *parents, leaf = group.component_paths[component].split(".")
                owner = block
                for name in parents:
                    owner = getattr(owner, name)
                module = getattr(owner, leaf, None)
                if module is not None:
                    yield owner, leaf, module


def test_embeddings_path_matches_the_prompt_path(loaded):
    family, pipe, embeddings = loaded
    from_prompts = pipe(
        prompt=PROMPTS,
        **PROMPT_CALL.get(family.kind, {}),
        **adapter_for(family).guidance_kwargs(family.default_guidance),
        max_sequence_length=TEXT_TOKENS[family.kind],
        latents=_noise(family, pipe, 64),
        num_inference_steps=STEPS,
        height=64,
        width=64,
        output_type="latent",
    ).images
    torch.testing.assert_close(_run(family, pipe, embeddings), from_prompts)
    first, second = embeddings["prompt_embeds"]  # the prompts lie inside the embedded window
    assert not torch.equal(first, second)


def test_all_recompute_is_bit_identical_and_removal_restores(loaded):
    family, pipe, embeddings = loaded
    plain = _run(family, pipe, embeddings)
    layout = ScheduleLayout.for_model(family, pipe.transformer)
    apply_schedule(pipe, no_cache(layout, STEPS))
    try:
        assert torch.equal(_run(family, pipe, embeddings), plain)
    finally:
        remove_schedule(pipe)
    assert torch.equal(_run(family, pipe, embeddings), plain)


@pytest.mark.parametrize("n", [2, 3])
def test_fora_equals_an_independent_every_n_reuse(loaded, n):
    family, pipe, embeddings = loaded
    layout = ScheduleLayout.for_model(family, pipe.transformer)
    calls = []
    counter = pipe.transformer.register_forward_pre_hook(lambda *_: calls.append(1))
    try:
        plain = _run(family, pipe, embeddings)
    finally:
        counter.remove()
    calls_per_step = len(calls) // STEPS
    schedule = fora(layout, STEPS, n)
    # The component engine (hooks on the component modules) is the one to match bit for bit;
    # the default engine runs lean block forwards, equal to float rounding.
    cached, _ = _cached_run(family, pipe, embeddings, ScheduleCacheConfig(schedule, False))
    default, _ = _cached_run(family, pipe, embeddings, schedule)
    owners = list(_component_owners(family, pipe.transformer))
    assert len(owners) >= len(layout.slots) - 1  # SD3's last block has no ff_context
    for owner, name, module in owners:
        setattr(owner, name, EveryN(module, n, calls_per_step))
    try:
        independent = _run(family, pipe, embeddings)
    finally:
        for owner, name, module in owners:
            setattr(owner, name, module)
    assert not torch.equal(cached, plain)
    assert torch.equal(cached, independent)
    torch.testing.assert_close(default, independent, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("fused", [True, False])
def test_lean_blocks_match_the_component_engine(loaded, fused):
    family, pipe, embeddings = loaded
    layout = ScheduleLayout.for_model(family, pipe.transformer)
    blocks = [b for g in family.block_groups for b in getattr(pipe.transformer, g.module_list)]
    assert sum(recipe_for(b) is None for b in blocks) == NOT_LEAN.get(family.name, 0)
    for schedule in (fora(layout, STEPS, 2), random_schedule(layout, STEPS, 0.5, 1)):
        ref, _ = _cached_run(family, pipe, embeddings, ScheduleCacheConfig(schedule, False))
        lean, stats = _cached_run(
            family, pipe, embeddings, ScheduleCacheConfig(schedule, fused_kernels=fused)
        )
        torch.testing.assert_close(lean, ref, rtol=1e-5, atol=1e-5, msg=schedule.metadata.name)
        assert stats["cached_bytes"] == 0 and stats["peak_cached_bytes"] > 0


def test_published_json_round_trips_and_names_its_family(tmp_path, loaded):
    family, _, _ = loaded
    layout = ScheduleLayout.for_family(family)
    others = [f for f in FAMILIES.values() if f.kind != family.kind]
    for schedule in baseline_schedules(layout, family.default_steps):
        path = write_schedule(schedule, tmp_path / f"{schedule.metadata.name}.json")
        assert read_schedule(path) == schedule  # the family is recognised from the file alone
        assert read_schedule(path, family=family.name).digest() == schedule.digest()
        for other in others:
            with pytest.raises(ScheduleFormatError, match=f"not for family {other.name}"):
                read_schedule(path, family=other.name)
    shipped = REPO_ROOT / "schedules" / family.name / "fora-2.json"
    assert read_schedule(shipped, family=family.name) == fora(layout, family.default_steps, 2)


@pytest.mark.parametrize("resolution", [64, 128])
def test_linear_macs_equal_an_independent_count(loaded, resolution):
    family, pipe, embeddings = loaded
    transformer = pipe.transformer
    seen = []

    def keep_inputs(_module, _args, kwargs):
        if not seen:
            seen.append(kwargs)

    hook = transformer.register_forward_pre_hook(keep_inputs, with_kwargs=True)
    try:
        _run(family, pipe, embeddings, resolution, steps=1)
    finally:
        hook.remove()
    kwargs = seen[0]
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        transformer(**kwargs)
    counts = counter.get_flop_counts()
    root = type(transformer).__name__
    linear = sum(
        sum(counts.get(f"{root}.{name}", {}).values())
        for name, module in transformer.named_modules()
        if isinstance(module, (torch.nn.Linear, torch.nn.Conv2d))
    )
    batch = kwargs["hidden_states"].shape[0]
    text = kwargs["encoder_hidden_states"].shape[1] - EXTRA_TEXT.get(family.kind, 0)
    config = {k: v for k, v in transformer.config.items() if not k.startswith("_")}
    table = macs_table(family, resolution, batch, "macs-linear", text, config)
    assert table.layout == ScheduleLayout.for_model(family, transformer)
    assert table.base + table.slot_costs.sum() == linear / 2
    assert table.slot_costs.min() >= 0 and table.base > 0
    for target, cost in zip(slot_targets(transformer, table.layout), table.slot_costs):
        assert (cost == 0) == (target.module is None)  # SD3's missing last ff_context: inert


def test_one_search_generation_runs_end_to_end(tmp_path, tiny_dirs, loaded):
    family, _, _ = loaded
    spec = load_spec(
        write_spec(
            tmp_path,
            name=f"tiny-{family.kind}",
            family=family.name,
            weights=str(tiny_dirs[family.name]),
            steps=3,
            prompts={"file": str(REPO_ROOT / "prompts" / "calibration-100.txt"), "limit": 1},
            population=2,
            generations=1,
            min_diff=1,
        )
    )
    session = run_search(FilesystemStore(tmp_path / "store"), spec, progress=lambda _: None)
    assert session.phase == "done"
    assert len(session.history()) == 2
    assert len(session.front()) >= 1


@pytest.mark.parametrize("name", FIRST_CLASS_NAMES)
def test_role_heuristics_apply_and_tgate_is_refused(name):
    family = get_family(name)
    layout = ScheduleLayout.for_family(family)
    steps = family.default_steps
    attention = {s.component for s in layout.slots} & set(
        family.components_with_role("self_attention")
    )
    every = attention_every(layout, steps, 2)
    reused = {layout.slots[c].component for c in every.reused_slots()}
    assert reused == attention
    for target in ("attn", "mlp"):
        call = HeuristicCall.parse(f"evenly_cache_{target}_evenly_spaced:10:4")
        assert len(call.build(layout, steps).reused_slots()) > 0
    assert not family.components_with_role("cross_attention")
    for tgate in ("tgate_without_ca_avg:8:2", "tgate:8:2"):
        with pytest.raises(ConfigError, match=f"needs a cross-attention component; {name}"):
            HeuristicCall.parse(tgate).build(layout, steps)
    names = [s.metadata.name for s in baseline_schedules(layout, steps)]
    assert names == [
        "no-cache", "fora-2", "fora-3", "fora-4", "attention-every-2", "attention-every-3"
    ]


@pytest.mark.parametrize("name", FIRST_CLASS_NAMES)
def test_full_size_random_pipeline_builds_in_bf16_with_fewer_blocks(name):
    family = get_family(name)
    blocks = {g.name: 1 for g in family.block_groups}
    pipe = random_pipeline(family, family.default_resolution, device="meta", blocks=blocks)
    assert type(pipe).__name__ == family.pipeline_class
    assert ScheduleLayout.for_model(family, pipe.transformer).block_counts == tuple(
        blocks.items()
    )
    assert pipe.transformer.dtype == torch.bfloat16
    assert all(getattr(pipe, c) is None for c in family.text_components)
    embeddings = random_embeddings(pipe, family, 2)
    assert set(embeddings) == set(adapter_for(family).embedding_names)
    with pytest.raises(ConfigError, match="groups of"):
        random_pipeline(family, 1024, device="meta", blocks={"nope": 1})
