"""The transformer around its blocks (ecad.caching.outer): the re-stated forward equals the
model's own, and in block scope nothing of the stream's size runs outside a compiled graph."""

from __future__ import annotations

import functools

import pytest
import torch
from torch.autograd.profiler import record_function
from torch.profiler import ProfilerActivity, profile

from ecad.caching import ScheduleCacheConfig, apply_schedule, remove_schedule
from ecad.caching.outer import outer_recipe_for, run_outer
from ecad.families import get_family
from ecad.families.tiny import build_tiny_pixart
from ecad.schedules import ScheduleLayout
from ecad.schedules.heuristics import fora
from tests.caching import tiny_calls

GRAPH = "ecad-test-graph"


def _pixart(sample_size: int = 8, seed: int = 0):
    from diffusers import PixArtTransformer2DModel

    torch.manual_seed(seed)
    # the additional conditions' embeddings split the width in three
    head_dim = 12 if sample_size == 128 else 8
    return PixArtTransformer2DModel(
        sample_size=sample_size, num_layers=2, patch_size=2, attention_head_dim=head_dim,
        num_attention_heads=2, in_channels=4, out_channels=8, cross_attention_dim=2 * head_dim,
        caption_channels=32, attention_bias=True, activation_fn="gelu-approximate",
        num_embeds_ada_norm=1000, norm_type="ada_norm_single", norm_elementwise_affine=False,
        norm_eps=1e-6,
    ).eval()


def _inputs(model, size: int, mask: bool, conditions: bool) -> dict:
    g = torch.Generator().manual_seed(1)
    batch = 3
    out = dict(
        hidden_states=torch.randn(batch, 4, size, size, generator=g),
        encoder_hidden_states=torch.randn(batch, 7, 32, generator=g),
        timestep=torch.tensor([999, 500, 3]),
        added_cond_kwargs={"resolution": None, "aspect_ratio": None},
    )
    if mask:
        out["encoder_attention_mask"] = (torch.arange(7)[None] < torch.tensor([[7], [4], [1]]))
    if conditions:
        out["added_cond_kwargs"] = {
            "resolution": torch.tensor([[1024.0, 1024.0]] * batch),
            "aspect_ratio": torch.tensor([[1.0]] * batch),
        }
    return out


# 128: diffusers turns the additional conditions on at this sample size (PixArt-α 1024 px)
@pytest.mark.parametrize(("sample_size", "size", "mask"), [(8, 8, False), (8, 12, True),
                                                          (128, 8, True)])
@pytest.mark.parametrize("return_dict", [True, False])
def test_restated_forward_equals_the_models_own(sample_size, size, mask, return_dict):
    model = _pixart(sample_size)
    recipe = outer_recipe_for(model)
    assert recipe is not None
    inputs = _inputs(model, size, mask, conditions=model.use_additional_conditions)
    with torch.no_grad():
        ref = model(**inputs, return_dict=return_dict)
        out = recipe.forward(model, run_outer, **inputs, return_dict=return_dict)
    ref, out = (ref[0], out[0]) if not return_dict else (ref.sample, out.sample)
    assert out.shape == (3, 8, size, size)
    torch.testing.assert_close(out, ref, rtol=0, atol=0)


def test_restated_forward_keeps_the_models_error_without_conditions():
    model = _pixart(128)
    inputs = _inputs(model, 8, False, conditions=False)
    inputs["added_cond_kwargs"] = None
    with pytest.raises(ValueError, match="added_cond_kwargs"):
        outer_recipe_for(model).forward(model, run_outer, **inputs)


def test_checkpointed_models_keep_their_own_forward():
    model = _pixart()
    model.gradient_checkpointing = True
    assert outer_recipe_for(model) is None


def _marked(gm: torch.fx.GraphModule, example_inputs: list):
    """A dynamo backend that runs the graph as traced, marked for the profiler."""

    @functools.wraps(gm.forward)
    def run(*args):
        with record_function(GRAPH):
            return gm.forward(*args)

    return run


def _eager_ops_on_the_stream(pipe, family, stream: tuple[int, ...]) -> list[str]:
    """The aten ops on a stream-shaped tensor that one pipeline call runs outside every graph
    (and inside the transformer's calls)."""
    forward = pipe.transformer.forward

    def marked_forward(*args, **kwargs):
        with record_function("transformer-call"):
            return forward(*args, **kwargs)

    pipe.transformer.forward = marked_forward
    try:
        with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
            tiny_calls.run_pipe(pipe, family, num_inference_steps=4)
    finally:
        del pipe.transformer.forward
    events = prof.events()

    def spans(name):
        return [(e.time_range.start, e.time_range.end) for e in events if e.name == name]

    graphs, calls = spans(GRAPH), spans("transformer-call")
    assert graphs and calls

    def within(e, ranges):
        return any(a <= e.time_range.start and e.time_range.end <= b for a, b in ranges)

    return [
        f"{e.name}{e.input_shapes}"
        for e in events
        if e.name.startswith("aten::") and within(e, calls) and not within(e, graphs)
        and any(list(s) == list(stream) for s in e.input_shapes)
    ]


@pytest.mark.slow
def test_block_scope_runs_nothing_of_the_streams_size_outside_its_graphs(tiny_dirs):
    """Before the outer recipe, the patch embedding's add, a copy to make the stream contiguous,
    the final norm and its modulation ran op by op between the block graphs."""
    from ecad.families.loading import load_pipeline

    family = get_family("pixart-alpha")
    pipe = load_pipeline(family, str(tiny_dirs[family.name]))
    layout = ScheduleLayout.for_model(family, pipe.transformer)
    config = ScheduleCacheConfig(
        fora(layout, 4, 2), compile="default", compile_backend=_marked, compile_scope="blocks"
    )
    torch._dynamo.reset()
    apply_schedule(pipe, config)
    try:
        tiny_calls.run_pipe(pipe, family, num_inference_steps=4)  # compiles
        model = pipe.transformer
        tokens = (64 // 8 // model.config.patch_size) ** 2
        stream = (4, tokens, model.inner_dim)  # two prompts with guidance
        found = _eager_ops_on_the_stream(pipe, family, stream)
    finally:
        remove_schedule(pipe)
        torch._dynamo.reset()
    # what is left: views and the blocks' no-op contiguous() calls, nothing that moves data
    moving = [op for op in found if not op.startswith(("aten::contiguous", "aten::view",
                                                        "aten::as_strided", "aten::reshape",
                                                        "aten::_reshape_alias"))]
    assert not moving, moving


def test_tiny_pipeline_blocks_have_an_outer_recipe():
    family = get_family("pixart-sigma")
    pipe = build_tiny_pixart(family.pipeline_class)
    assert outer_recipe_for(pipe.transformer) is not None


@pytest.mark.parametrize("graphs", [False, True])
def test_true_tgate_keeps_its_guidance_drop_in_block_scope(tiny_dirs, graphs):
    """True TGATE's guidance drop wraps the transformer's forward: block scope runs that hook
    (the blocks see half the batch after the gate) instead of the outer recipe under it."""
    from ecad.caching.hooks import DENOISER_HOOK
    from ecad.families.loading import load_pipeline
    from ecad.schedules import Schedule
    from ecad.schedules.catalog import HeuristicCall
    from tests.caching.replay_graph import ReplayGraph

    family = get_family("pixart-alpha")
    pipe = load_pipeline(family, str(tiny_dirs[family.name]))
    layout = ScheduleLayout.for_model(family, pipe.transformer)
    true = HeuristicCall.of("tgate", m=3, k=2).build(layout, tiny_calls.STEPS)
    bits = true.bits.copy()
    bits[5, [i for i, s in enumerate(layout.slots) if s.component == "ff"]] = False  # a cache
    schedule = Schedule(layout, bits, true.metadata, true.custom_attention)  # after the gate
    apply_schedule(pipe, schedule)
    try:
        ref = tiny_calls.run_pipe(pipe, family)
    finally:
        remove_schedule(pipe)
    config = ScheduleCacheConfig(
        schedule, compile="reduce-overhead" if graphs else "default", compile_backend="eager",
        compile_scope="blocks",
    )
    torch._dynamo.reset()
    apply_schedule(pipe, config)
    runner = pipe.transformer._diffusers_hook.hooks[DENOISER_HOOK].runner
    runner.graph_class, runner.graphs_on_cpu = ReplayGraph, graphs
    batches = []
    handle = pipe.transformer.transformer_blocks[0].register_forward_pre_hook(
        lambda module, args: batches.append(args[0].shape[0])
    )
    try:
        out = tiny_calls.run_pipe(pipe, family)
    finally:
        handle.remove()
        remove_schedule(pipe)
        torch._dynamo.reset()
    if not graphs:  # a replay runs no Python: the stand-in's re-runs would count twice
        assert batches == [4, 4, 4, 2, 2, 2]
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
