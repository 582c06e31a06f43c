"""The compiled engine on tiny real pipelines: one compilation per step pattern, same outputs.

Compilations are counted by a backend that counts the graphs dynamo hands it (no inductor: the
CPU's C++ compiler would make these tests slow); the CUDA-graph path runs on the CPU with a
stand-in graph that replays by running the captured call again.
"""

from __future__ import annotations

import pytest
import torch

from ecad.caching import (
    ScheduleCacheConfig,
    apply_schedule,
    cache_stats,
    compile_stats,
    remove_schedule,
)
from ecad.caching.compiled import pattern_steps
from ecad.caching.hooks import DENOISER_HOOK
from ecad.errors import ConfigError, ScheduleCompileError
from ecad.families import get_family
from ecad.families.loading import load_pipeline
from ecad.schedules import Schedule, ScheduleLayout
from ecad.schedules.catalog import HeuristicCall
from ecad.schedules.heuristics import fora, random_schedule
from tests.caching import tiny_calls
from tests.caching.replay_graph import ReplayGraph, UnexecutedCapture

STEPS = 4  # fewer than the other caching tests: every pattern is a (dynamo) compilation


def run_pipe(pipe, family, **extra):
    return tiny_calls.run_pipe(pipe, family, num_inference_steps=STEPS, **extra)


class CountingBackend:
    """A dynamo backend that runs graphs as traced and counts them."""

    def __init__(self) -> None:
        self.graphs = 0

    def __call__(self, gm: torch.fx.GraphModule, example_inputs: list) -> object:
        self.graphs += 1
        return gm.forward


@pytest.fixture(autouse=True)
def _fresh_dynamo():
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


@pytest.fixture(scope="module")
def pixart(tiny_dirs):
    family = get_family("pixart-alpha")
    pipe = load_pipeline(family, str(tiny_dirs["pixart-alpha"]))
    return family, pipe, ScheduleLayout.for_model(family, pipe.transformer)


@pytest.fixture(scope="module")
def fora_eager(pixart):
    """FORA-2 on the tiny PixArt-α, eager: the reference of most tests here (computed once)."""
    family, pipe, layout = pixart
    schedule = fora(layout, STEPS, 2)
    return schedule, _eager(pipe, family, schedule)


def _eager(pipe, family, schedule):
    apply_schedule(pipe, schedule)
    try:
        return run_pipe(pipe, family)
    finally:
        remove_schedule(pipe)


def test_patterns_group_the_steps_of_a_static_schedule(pixart):
    _, pipe, layout = pixart
    apply_schedule(pipe, fora(layout, 6, 3))
    try:
        # 0: compute and keep; 1: reuse, keep; 2: reuse, drop; 3: compute with nothing held.
        assert pattern_steps(pipe.transformer, 6) == (0, 1, 2, 3, 1, 2)
    finally:
        remove_schedule(pipe)
    apply_schedule(pipe, Schedule.full(layout, STEPS))
    try:
        assert pattern_steps(pipe.transformer, STEPS) == (0,) * STEPS  # no hooks, one graph
    finally:
        remove_schedule(pipe)


def test_fullgraph_compiles_once_per_pattern_and_matches_eager(pixart, fora_eager):
    family, pipe, _ = pixart
    schedule, ref = fora_eager
    plain = run_pipe(pipe, family)
    backend = CountingBackend()
    apply_schedule(pipe, ScheduleCacheConfig(schedule, compile_backend=backend), compile="default")
    try:
        out = run_pipe(pipe, family)
        stats = compile_stats(pipe)
        assert stats["patterns"] == 3 and stats["compiled"] == 3
        assert backend.graphs == 3  # one per pattern, not one per step (4)
        torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
        run_pipe(pipe, family)
        assert backend.graphs == 3  # a second call recompiles nothing
    finally:
        remove_schedule(pipe)
    assert compile_stats(pipe) is None
    assert not getattr(pipe.transformer, "_diffusers_hook", None) or not (
        pipe.transformer._diffusers_hook.hooks
    )
    torch.testing.assert_close(run_pipe(pipe, family), plain, rtol=0, atol=0)


def test_all_recompute_schedule_equals_the_compiled_plain_pipeline(pixart):
    family, pipe, layout = pixart
    transformer = pipe.transformer
    plain_backend = CountingBackend()
    pipe.transformer = torch.compile(transformer, backend=plain_backend, fullgraph=True)
    try:
        plain = run_pipe(pipe, family)
    finally:
        pipe.transformer = transformer
    backend = CountingBackend()
    config = ScheduleCacheConfig(
        Schedule.full(layout, STEPS), compile="default", compile_backend=backend
    )
    apply_schedule(pipe, config)
    try:
        out = run_pipe(pipe, family)
    finally:
        remove_schedule(pipe)
    assert backend.graphs == plain_backend.graphs == 1
    torch.testing.assert_close(out, plain, rtol=1e-5, atol=1e-5)


def test_wrapping_the_transformer_yourself_compiles_once_per_pattern(pixart, fora_eager):
    family, pipe, _ = pixart
    schedule, ref = fora_eager
    apply_schedule(pipe, schedule)
    transformer = pipe.transformer
    backend = CountingBackend()
    pipe.transformer = torch.compile(transformer, backend=backend)
    try:
        out = run_pipe(pipe, family)
        patterns = len(set(pattern_steps(transformer, STEPS)))
        assert patterns == 3 and backend.graphs == patterns  # was one per step, then eager
        run_pipe(pipe, family)
        assert backend.graphs == patterns
    finally:
        pipe.transformer = transformer
        remove_schedule(pipe)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)


def test_block_scope_compiles_once_per_block_pattern(pixart, fora_eager):
    family, pipe, _ = pixart
    schedule, ref = fora_eager
    backend = CountingBackend()
    apply_schedule(
        pipe,
        ScheduleCacheConfig(
            schedule, compile="default", compile_backend=backend, compile_scope="blocks"
        ),
    )
    try:
        out = run_pipe(pipe, family)
        run_pipe(pipe, family)
        stats = compile_stats(pipe)
    finally:
        remove_schedule(pipe)
    # FORA-2 over 4 steps: 2 step patterns (nothing traces the hooks: steps 0 and 2 are one)
    # and 2 block patterns, all computed, all reused; and the transformer's head and tail
    # (ecad.caching.outer), once each.
    assert stats["patterns"] == 2 and backend.graphs == stats["compiled"] == 2 + 2
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)


def test_cuda_graph_mode_runs_under_inference_mode(pixart, fora_eager):
    """Tensors made under ``torch.inference_mode`` keep no version counter; a replay copies
    them every time instead of asking."""
    family, pipe, _ = pixart
    schedule, ref = fora_eager
    config = ScheduleCacheConfig(schedule, compile="reduce-overhead", compile_backend=None)
    apply_schedule(pipe, config)
    runner = pipe.transformer._diffusers_hook.hooks[DENOISER_HOOK].runner
    runner.graph_class, runner.graphs_on_cpu = ReplayGraph, True
    try:
        with torch.inference_mode():
            first, again = run_pipe(pipe, family), run_pipe(pipe, family)
    finally:
        remove_schedule(pipe)
    torch.testing.assert_close(first, ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(again, ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("compiler", [pytest.param("dynamo", marks=pytest.mark.slow), None])
def test_cuda_graph_mode_replays_one_graph_per_pattern(pixart, fora_eager, compiler):
    family, pipe, _ = pixart
    schedule, ref = fora_eager
    backend = CountingBackend() if compiler else None  # None: graphs of the eager engine
    apply_schedule(
        pipe, ScheduleCacheConfig(schedule, compile="reduce-overhead", compile_backend=backend)
    )
    runner = pipe.transformer._diffusers_hook.hooks[DENOISER_HOOK].runner
    runner.graph_class, runner.graphs_on_cpu = ReplayGraph, True
    try:
        first = run_pipe(pipe, family)
        again = run_pipe(pipe, family)  # replays only
        stats = compile_stats(pipe)
        # dynamo traces the hooks (transformer scope): a call's first step is its own pattern
        patterns = 3 if compiler else 2
        assert stats["graphs"] == stats["patterns"] == patterns
        assert stats["compiled"] == (patterns if compiler else 0)
        assert stats["static_cache_bytes"] > 0
        other = run_pipe(pipe, family, prompt=["a red cube"])  # another batch: new graphs
        assert compile_stats(pipe)["invalidations"] == 1
    finally:
        remove_schedule(pipe)
    torch.testing.assert_close(first, ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(again, ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(other[0], ref[0], rtol=1e-4, atol=1e-4)
    assert runner.call.static is None  # buffers freed on removal


def _record_stores(monkeypatch) -> list[tuple[bool, bool]]:
    """Every store into the static caches from now on: (inside a capture, copied into a buffer
    it is not)."""
    from ecad.caching.cuda_graphs import StaticCaches

    stores, hold = [], StaticCaches.hold

    def recording_hold(self, key, value):
        buffer = self.buffers.get(key)
        stores.append((self._phase == "capture", buffer is not None and buffer is not value))
        return hold(self, key, value)

    monkeypatch.setattr(StaticCaches, "hold", recording_hold)
    return stores


def test_block_graphs_write_kept_outputs_into_their_static_buffers(pixart, fora_eager,
                                                                   monkeypatch):
    """Under CUDA graphs a kept output is written into its static buffer inside the block's
    graph (fused with its other reader), not copied there after it."""
    family, pipe, _ = pixart
    schedule, ref = fora_eager
    config = ScheduleCacheConfig(
        schedule, compile="reduce-overhead", compile_backend=CountingBackend(),
        compile_scope="blocks",
    )
    apply_schedule(pipe, config)
    runner = pipe.transformer._diffusers_hook.hooks[DENOISER_HOOK].runner
    runner.graph_class, runner.graphs_on_cpu = ReplayGraph, True
    stores = _record_stores(monkeypatch)
    try:
        first = run_pipe(pipe, family)  # captures: the first store of an entry makes its buffer
        stores.clear()
        again = run_pipe(pipe, family)  # the stand-in replays by running the graphs' code again
        held_after_call = cache_stats(pipe)["cached_bytes"]
    finally:
        remove_schedule(pipe)
    copies = [copied for _, copied in stores]
    assert copies and not any(copies)
    assert held_after_call == 0  # the end of a call drops the caches, replayed steps' too
    torch.testing.assert_close(first, ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(again, ref, rtol=1e-5, atol=1e-5)


def test_a_capturing_call_counts_its_cache_peak_once(pixart, fora_eager):
    """The runs before a capture (eager, warm) hold caches as the step does: the first call's
    peak is the eager engine's, not three steps' worth."""
    family, pipe, _ = pixart
    schedule, _ = fora_eager
    apply_schedule(pipe, schedule)
    try:
        run_pipe(pipe, family)
        eager_peak = cache_stats(pipe)["peak_cached_bytes"]
    finally:
        remove_schedule(pipe)
    config = ScheduleCacheConfig(schedule, compile="reduce-overhead", compile_backend=None)
    apply_schedule(pipe, config)
    runner = pipe.transformer._diffusers_hook.hooks[DENOISER_HOOK].runner
    runner.graph_class, runner.graphs_on_cpu = ReplayGraph, True
    try:
        run_pipe(pipe, family)  # captures every pattern
        first = cache_stats(pipe)["peak_cached_bytes"]
        run_pipe(pipe, family)  # replays
        again = cache_stats(pipe)["peak_cached_bytes"]
    finally:
        remove_schedule(pipe)
    assert eager_peak > 0 and first == again == eager_peak


@pytest.mark.parametrize("scope", ["blocks", "eager engine"])
def test_cache_buffers_are_the_first_writers_own_tensors(pixart, fora_eager, scope, monkeypatch):
    """Where no dynamo traces the hooks, FORA's computed steps are one pattern, and its graph
    computes every entry into the tensor that is the entry's buffer: no copy in any captured
    graph. A capture computes nothing (the stand-in leaves NaN), so the buffers get the run
    before's values."""
    family, pipe, _ = pixart
    schedule, ref = fora_eager
    backend = CountingBackend() if scope == "blocks" else None
    config = ScheduleCacheConfig(
        schedule, compile="reduce-overhead", compile_backend=backend,
        compile_scope="blocks" if scope == "blocks" else "transformer",
    )
    stores = _record_stores(monkeypatch)
    apply_schedule(pipe, config)
    runner = pipe.transformer._diffusers_hook.hooks[DENOISER_HOOK].runner
    runner.graph_class, runner.graphs_on_cpu = UnexecutedCapture, True
    UnexecutedCapture.static = lambda: runner.call.static
    try:
        first = run_pipe(pipe, family)
        captured = list(stores)
        again = run_pipe(pipe, family)  # replays: the stand-in re-runs the graphs' code
        stats, static = compile_stats(pipe), runner.call.static
    finally:
        remove_schedule(pipe)
    assert stats["patterns"] == stats["graphs"] == 2  # compute and keep; reuse
    assert static.adopt and static.buffers
    assert any(in_capture for in_capture, _ in captured)
    assert not any(copied for in_capture, copied in captured if in_capture)
    if scope == "blocks":  # the block graphs write into the buffers on the stand-in's re-runs
        assert not any(copied for _, copied in stores)
    torch.testing.assert_close(first, ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(again, ref, rtol=1e-5, atol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["tgate", "component", "flux"])
def test_other_engines_compile_once_per_pattern(tiny_dirs, name):
    family = get_family("flux-dev" if name == "flux" else "pixart-sigma")
    pipe = load_pipeline(family, str(tiny_dirs[family.name]))
    layout = ScheduleLayout.for_model(family, pipe.transformer)
    options = {"lean_blocks": name != "component"}
    schedule = (
        HeuristicCall.parse("tgate:3:1").build(layout, STEPS)
        if name == "tgate"
        else fora(layout, STEPS, 2)
    )
    apply_schedule(pipe, ScheduleCacheConfig(schedule, **options))
    try:
        ref = run_pipe(pipe, family)
    finally:
        remove_schedule(pipe)
    backend = CountingBackend()
    apply_schedule(
        pipe, ScheduleCacheConfig(schedule, compile="default", compile_backend=backend, **options)
    )
    try:
        out = run_pipe(pipe, family)
        patterns = compile_stats(pipe)["patterns"]
    finally:
        remove_schedule(pipe)
    assert 1 < patterns <= STEPS and backend.graphs == patterns
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)


def test_true_tgate_compiles_once_per_block_pattern_however_many_blocks():
    """Each block's cross-attention carries its own TGATE hook (its own ``forward``); a block
    graph must not guard on it, or six blocks would compile six times per pattern."""
    from ecad.families.tiny import build_tiny_pixart

    family = get_family("pixart-alpha")
    pipe = build_tiny_pixart(family.pipeline_class, num_layers=6)
    layout = ScheduleLayout.for_model(family, pipe.transformer)
    schedule = HeuristicCall.parse("tgate:3:1").build(layout, STEPS)
    ref = _eager(pipe, family, schedule)
    backend = CountingBackend()
    apply_schedule(
        pipe,
        ScheduleCacheConfig(
            schedule, compile="default", compile_scope="blocks", compile_backend=backend
        ),
    )
    try:
        out, again = run_pipe(pipe, family), run_pipe(pipe, family)
        stats = compile_stats(pipe)
    finally:
        remove_schedule(pipe)
    # Block patterns of tgate:3:1 over 4 steps: all computed (steps 0-1: plain caching with
    # nothing reused; step 2 = m - 1: cross-attention computed and averaged) and, from the gate,
    # cross-attention answered by its average. No head and tail graphs: the guidance drop wraps
    # the transformer's forward, and the outer recipe stands in for the model's own only.
    assert backend.graphs == stats["compiled"] == 2
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(again, ref, rtol=1e-5, atol=1e-5)


def test_combinations_that_cannot_compile_say_so(pixart, monkeypatch):
    family, pipe, layout = pixart
    schedule = fora(layout, STEPS, 2)
    with pytest.raises(ConfigError, match="'fast' is not one of default, reduce-overhead"):
        apply_schedule(pipe, schedule, compile="fast")
    with pytest.raises(ConfigError, match=r"compile_backend=None .* not compile=.default."):
        apply_schedule(pipe, ScheduleCacheConfig(schedule, compile="default", compile_backend=None))
    assert not _hooks(pipe)  # nothing half-installed

    from accelerate.hooks import ModelHook, add_hook_to_module, remove_hook_from_module

    add_hook_to_module(pipe.transformer, ModelHook())  # what CPU offload installs
    try:
        with pytest.raises(ScheduleCompileError, match=r"CPU offload hooks.*compile=None"):
            apply_schedule(pipe, schedule, compile="reduce-overhead")
    finally:
        remove_hook_from_module(pipe.transformer)
    assert not _hooks(pipe)

    block = pipe.transformer.transformer_blocks[0]
    forward = block.attn1.forward

    def breaks_the_graph(*args, **kwargs):
        torch._dynamo.graph_break()
        return forward(*args, **kwargs)

    monkeypatch.setattr(block.attn1, "forward", breaks_the_graph)
    apply_schedule(pipe, schedule, compile="default")
    try:
        with pytest.raises(
            ScheduleCompileError,
            match="cannot compile schedule 'fora-2' on "
            "PixArtTransformer2DModel with compile='default'",
        ):
            run_pipe(pipe, family)
    finally:
        remove_schedule(pipe)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("scope", ["transformer", "blocks"])
@pytest.mark.parametrize("name", ["pixart-alpha", "flux-dev"])
def test_cuda_graphs_with_inductor_match_eager_on_cuda(tiny_dirs, name, scope):
    family = get_family(name)
    pipe = load_pipeline(family, str(tiny_dirs[name]), device="cuda")
    layout = ScheduleLayout.for_model(family, pipe.transformer)
    # a random schedule: a pattern per step, cache entries written by several graphs (the
    # pool's first graph keeps its entries, the others copy into buffers of their own)
    schedules = [fora(layout, STEPS, 2), random_schedule(layout, STEPS, 0.5, seed=3)]
    if family.kind == "pixart":
        schedules.append(HeuristicCall.parse("tgate:3:1").build(layout, STEPS))
    for schedule in schedules:
        ref = _eager(pipe, family, schedule)
        apply_schedule(
            pipe, ScheduleCacheConfig(schedule, compile="reduce-overhead", compile_scope=scope)
        )
        try:
            first, again = run_pipe(pipe, family), run_pipe(pipe, family)
            stats = compile_stats(pipe)
        finally:
            remove_schedule(pipe)
        assert stats["graphs"] == stats["patterns"] and stats["static_cache_bytes"] > 0
        torch.testing.assert_close(first, ref, rtol=1e-3, atol=1e-3)
        torch.testing.assert_close(again, ref, rtol=1e-3, atol=1e-3)


def _hooks(pipe) -> dict:
    return getattr(getattr(pipe.transformer, "_diffusers_hook", None), "hooks", {})
