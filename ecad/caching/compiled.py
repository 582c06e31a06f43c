"""Compiled schedules: one graph per step *pattern*, with ``torch.compile`` and CUDA graphs.

A schedule is static: before the first step it is known which components each step runs,
which outputs it keeps and which it reads. Steps that do the same are one **pattern** (FORA-3:
"compute and keep", "reuse", "reuse and drop"; true TGATE's halved batch after the gate is
another). Each hook of the engine describes what it does at a step (``step_signature(t)``);
:func:`pattern_steps` groups the steps, and the step tracker tells the hooks the *first* step
of the running step's pattern instead of the step itself. So a graph traced through the hooks
depends on the pattern only, and ``torch.compile`` compiles once per pattern (and guidance
branch), whether the engine compiles (``apply_schedule(..., compile=MODE)``) or the user wraps
the transformer in ``torch.compile`` after ``apply_schedule``.

With ``compile=MODE`` the forward below the step tracker is compiled with ``fullgraph=True``
and ``dynamic=False``, one function per pattern. In the CUDA-graph modes each pattern is also
captured once as a CUDA graph: inputs are copied into static buffers, every cache entry lives
in one static buffer that all graphs read and write, and a step is one graph replay.

What invalidates the graphs: another input shape (resolution, batch size) or another
non-tensor argument recompiles every pattern and captures new graphs (the old ones are freed);
another schedule is another ``apply_schedule``, which starts over. ``remove_schedule`` frees
the graphs and buffers.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.utils import _pytree as pytree

from ecad.caching.cuda_graphs import (
    CapturedGraph,
    CudaGraph,
    StaticCaches,
    call_signature,
    clone_contiguous,
    device_of,
    flatten_call,
    restore_caches,
    snapshot_caches,
    version,
)
from ecad.caching.outer import outer_recipe_for
from ecad.caching.regional import COMPILE_ERRORS, RegionalBlocks, compile_error, fresh_function
from ecad.caching.state import CallState
from ecad.errors import ConfigError, ScheduleCompileError

__all__ = [
    "COMPILE_MODES",
    "CompileStats",
    "CompiledForward",
    "pattern_steps",
    "raise_recompile_limit",
    "refuse_offload",
    "restore_recompile_limit",
]

log = logging.getLogger(__name__)

#: ``torch.compile``'s modes. The CUDA-graph ones are captured by this engine (static cache
#: buffers), so inductor itself runs without CUDA graphs.
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune")
_INDUCTOR_MODE = {
    "default": "default",
    "reduce-overhead": "default",
    "max-autotune": "max-autotune-no-cudagraphs",
}
_CUDA_GRAPH_MODES = ("reduce-overhead", "max-autotune")


COMPILE_SCOPES = ("transformer", "blocks")


def check_mode(mode: str | None, backend: Any = "inductor", scope: str = "transformer") -> None:
    if scope not in COMPILE_SCOPES:
        raise ConfigError(f"compile_scope {scope!r} is not one of {', '.join(COMPILE_SCOPES)}")
    if mode is not None and mode not in COMPILE_MODES:
        raise ConfigError(
            f"compile mode {mode!r} is not one of {', '.join(COMPILE_MODES)} (or None for eager)"
        )
    if mode is not None and backend is None and mode not in _CUDA_GRAPH_MODES:
        raise ConfigError(
            f"compile_backend=None (no compiler: CUDA graphs of the eager engine) needs a "
            f"CUDA-graph mode ({', '.join(_CUDA_GRAPH_MODES)}), not compile={mode!r}"
        )


def schedule_hooks(transformer: torch.nn.Module) -> list[Any]:
    """The engine's hooks that act per step, in module order."""
    return [
        hook
        for module in transformer.modules()
        for hook in getattr(getattr(module, "_diffusers_hook", None), "hooks", {}).values()
        if hasattr(hook, "step_signature")
    ]


def pattern_steps(transformer: torch.nn.Module, steps: int) -> tuple[int, ...]:
    """For every step, the first step with the same pattern (what every hook does there)."""
    hooks = schedule_hooks(transformer)
    first: dict[tuple, int] = {}
    return tuple(
        first.setdefault(tuple(hook.step_signature(t) for hook in hooks), t) for t in range(steps)
    )


def refuse_offload(transformer: torch.nn.Module, mode: str) -> None:
    """accelerate's offload hooks move weights during the forward: a CUDA graph would replay
    the moves of the capture, and dynamo breaks the graph at them."""
    offloaded = [
        name or "transformer" for name, m in transformer.named_modules() if hasattr(m, "_hf_hook")
    ]
    if offloaded:
        raise ScheduleCompileError(
            f"cannot compile a schedule (compile={mode!r}) on a {type(transformer).__name__} "
            f"with CPU offload hooks (on {offloaded[0]}); keep the model on the GPU "
            "(no enable_model_cpu_offload / enable_sequential_cpu_offload) or run with "
            "compile=None"
        )


# The user-wrapped path (torch.compile(pipe.transformer)) compiles one graph per pattern and
# branch on one code object; dynamo's default limit (8) would send longer schedules to eager.
_raised: dict[str, int] = {}


def raise_recompile_limit(patterns: int) -> None:
    """Let dynamo keep one graph per pattern and guidance branch (never lowers the limit)."""
    config = torch._dynamo.config
    wanted = 2 * patterns + 2
    if config.recompile_limit < wanted:
        _raised.setdefault("previous", config.recompile_limit)
        config.recompile_limit = _raised["set"] = wanted
        log.debug(
            "raised torch._dynamo.config.recompile_limit to %d (%d patterns)", wanted, patterns
        )


def restore_recompile_limit() -> None:
    config = torch._dynamo.config
    if "previous" in _raised and config.recompile_limit == _raised.get("set"):
        config.recompile_limit = _raised.pop("previous")
        _raised.pop("set", None)


@dataclass
class CompileStats:
    """What the compiled engine did, for ``compile_stats`` and benchmark reports."""

    mode: str
    patterns: int
    steps: int
    compiled: int = 0
    graphs: int = 0
    compile_seconds: float = 0.0
    capture_seconds: float = 0.0
    static_cache_bytes: int = 0
    invalidations: int = 0
    signatures: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return dict(vars(self))

    @staticmethod
    def combined(stats: list[dict[str, Any]]) -> dict[str, Any]:
        """Several engines' stats (a two-expert pipeline's): the counts summed, each one's
        under ``experts``."""
        total = {**stats[0], "experts": stats}
        for name in _SUMMED:
            total[name] = sum(s[name] for s in stats)
        total["signatures"] = [sig for s in stats for sig in s["signatures"]]
        return total


#: What several engines' :class:`CompileStats` add up to (``mode`` and ``steps`` they share).
_SUMMED = (
    "patterns", "compiled", "graphs", "compile_seconds", "capture_seconds",
    "static_cache_bytes", "invalidations",
)


def _run_pattern(forward, *args, **kwargs):
    return forward(*args, **kwargs)


class CompiledForward:
    """Runs the transformer's forward below the step tracker, one compiled graph per pattern
    (and guidance branch); in the CUDA-graph modes on CUDA, one captured graph each.

    ``call.step`` (the pattern's first step) and ``call.branch`` pick the graph; they are set by
    the step tracker before this runs, outside every graph.
    """

    def __init__(
        self,
        call: CallState,
        transformer: torch.nn.Module,
        mode: str,
        backend: str | Callable[..., Any] | None,
        name: str,
        scope: str = "transformer",
    ) -> None:
        check_mode(mode, backend, scope)
        self.call, self.mode, self.backend, self.name = call, mode, backend, name
        self.scope = scope
        self.model = type(transformer).__name__
        self.hooks = schedule_hooks(transformer)
        self.listeners = list(call.listeners)
        self.checks = [h for h in self.hooks if hasattr(h, "check_call")]
        runs = range(call.steps) if call.runs is None else call.runs
        self.stats = CompileStats(mode, len({call.pattern_of[t] for t in runs}), call.steps)
        self._functions: dict[tuple, Callable[..., Any]] = {}
        self._graphs: dict[tuple, CapturedGraph] = {}
        self._signature: tuple | None = None
        self._shared: tuple[Any, Any] | None = None
        #: What captures the graphs (``CudaGraph``; tests give a stand-in on the CPU).
        self.graph_class: Any = CudaGraph
        #: Capture on CPU too (with a stand-in ``graph_class``).
        self.graphs_on_cpu = False
        #: Block scope: the transformer's forward with its head and tail compiled
        #: (:mod:`ecad.caching.outer`); ``None``: its own forward.
        self._outer: Callable[..., Any] | None = None
        self._model_forward = type(transformer).forward  # what the outer recipe stands in for
        if scope == "blocks" and backend is not None:
            call.regional = RegionalBlocks(self._options(), self._describe)
            recipe = outer_recipe_for(transformer)
            if recipe is not None:
                self._outer = functools.partial(recipe.forward, transformer, call.regional.outer)

    # -- compiled functions ----------------------------------------------------------------
    def _describe(self) -> str:
        return f"schedule {self.name!r} on {self.model} with compile={self.mode!r}"

    def _options(self) -> dict[str, Any]:
        options: dict[str, Any] = {"fullgraph": True, "dynamic": False, "backend": self.backend}
        if self.backend == "inductor":
            options["mode"] = _INDUCTOR_MODE[self.mode]
        return options

    def _function(self, key: tuple) -> Callable[..., Any]:
        fn = self._functions.get(key)
        if fn is None and (self.backend is None or self.scope == "blocks"):
            # graphs of the eager (or block) engine
            fn = self._functions[key] = _run_pattern if self._outer is None else self._run_outer
        if fn is None:
            name = f"ecad_pattern_{key[0]}_{key[1]}".replace("-", "_")
            fn = self._functions[key] = torch.compile(fresh_function(_run_pattern, name),
                                                      **self._options())
        return fn

    def _run_outer(self, forward: Any, *args: Any, **kwargs: Any) -> Any:
        """The outer recipe in place of the model's own forward; where ``forward`` is another
        hook's (true TGATE's guidance drop wraps the transformer), that hook runs as it is."""
        if getattr(forward, "__func__", None) is not self._model_forward:
            return forward(*args, **kwargs)
        return self._outer(*args, **kwargs)

    def _compiled_call(self, key: tuple, forward: Any, args: tuple, kwargs: dict) -> Any:
        fn = self._function(key)
        try:
            return fn(forward, *args, **kwargs)
        except COMPILE_ERRORS as exc:
            where = f"pattern of step {key[0]}, branch {key[1]!r}"
            raise compile_error(self._describe(), where, exc) from exc

    # -- the step --------------------------------------------------------------------------
    def __call__(self, forward: Any, args: tuple, kwargs: dict) -> Any:
        graphs, start = _graphs_compiled(), time.perf_counter()
        out = self._step(forward, args, kwargs)
        new = _graphs_compiled() - graphs
        if new:  # counted by dynamo, so a recompilation would show here too
            self.stats.compiled += new
            self.stats.compile_seconds += _synced(out, start)
        return out

    def _step(self, forward: Any, args: tuple, kwargs: dict) -> Any:
        call = self.call
        for hook in self.checks:
            hook.check_call(call.true_step, args, kwargs)
        leaves, spec = flatten_call(args, kwargs)  # once per step: host time counts
        signature = call_signature(leaves, spec)
        if signature != self._signature:
            self._invalidate(signature)
        key = (call.step, call.branch)
        graphs = self._uses_graphs(leaves)
        graph = self._graphs.get(key) if graphs else None
        if graph is None:
            call.settle()  # the hooks run: their caches as the last replay left them
            if graphs:
                return self._capture(key, forward, args, kwargs)
            return self._compiled_call(key, forward, args, kwargs)
        graph.load([x for x in leaves if torch.is_tensor(x)])
        if graph.graph.runs_python:
            call.settle()
        graph.graph.replay()
        call.defer_restore(functools.partial(restore_caches, graph.after))
        call.ledger.observe(graph.held)
        out = graph.output
        if type(out) is tuple:
            return tuple(clone_contiguous(x) for x in out)
        return pytree.tree_map(clone_contiguous, out)

    def _uses_graphs(self, leaves: list[Any]) -> bool:
        if self.mode not in _CUDA_GRAPH_MODES:
            return False
        device = device_of(leaves)
        return device is not None and (device.type == "cuda" or self.graphs_on_cpu)

    def _invalidate(self, signature: tuple) -> None:
        if self._signature is not None:
            self.stats.invalidations += 1
            log.info("compiled schedule %r: new input shapes, recompiling its patterns", self.name)
        self._signature = signature
        self.stats.signatures.append(repr(signature[1])[:200])
        self.release()

    def release(self) -> None:
        """Free the captured graphs and static buffers (the caches' Python side is reset by the
        call that follows: buffers are remade on first store)."""
        self._graphs.clear()
        self._shared = None
        if self.call.static is not None:
            self.call.drop_caches()
            self.call.static = None
        self.stats.static_cache_bytes = 0

    def _capture(self, key: tuple, forward: Any, args: tuple, kwargs: dict) -> Any:
        """First time a pattern runs: once eagerly, once compiled (same inputs, same result),
        then captured; the Python side of the caches is put back before each run and recorded
        after the capture, for every replay. Entries first stored here get their static
        buffers (:class:`~ecad.caching.cuda_graphs.StaticCaches`): made by the eager run, or,
        where the hooks run as Python in the capture, the capture's own tensors."""
        call = self.call
        if call.static is None:
            # the hooks run as Python in a capture unless they are traced into the graph
            call.static = StaticCaches(adopt=self.backend is None or self.scope == "blocks")
        if self._shared is None:
            self._shared = self.graph_class.shared()
        graph = self.graph_class(*self._shared)
        before, held_before = snapshot_caches(self.listeners), call.ledger.bytes

        def rewind() -> None:  # each run below starts from the same caches: one step, once
            restore_caches(before)
            call.ledger.bytes = held_before

        with call.static.before_capture():
            forward(*args, **kwargs)
            rewind()
            tensors = [x for x in flatten_call(args, kwargs)[0] if torch.is_tensor(x)]
            inputs = [clone_contiguous(t) for t in tensors]
            versions = [version(t) for t in inputs]
            call.static.inputs(inputs)
            static_args, static_kwargs = _rebuild(args, kwargs, tensors, inputs)
            out = graph.warm(
                lambda: self._compiled_call(key, forward, static_args, static_kwargs)
            )
            out = pytree.tree_map(clone_contiguous, out)  # the warm memory may be the capture's
            rewind()
        start = time.perf_counter()
        fn = self._function(key)
        with call.static.capturing():
            static_out = graph.capture(lambda: fn(forward, *static_args, **static_kwargs))
        self.stats.capture_seconds += time.perf_counter() - start
        self.stats.graphs += 1
        self.stats.static_cache_bytes = call.static.nbytes()
        after = snapshot_caches(self.listeners)
        held = call.held_bytes()
        # An input whose changes cannot be seen (inference tensors) counts as written: always
        # copied.
        written = [v is None or version(t) != v for t, v in zip(inputs, versions)]
        self._graphs[key] = CapturedGraph(graph, inputs, static_out, after, held, written)
        call.ledger.observe(held)
        return out


def _rebuild(
    args: tuple, kwargs: dict, tensors: list[torch.Tensor], static: list[torch.Tensor]
) -> tuple[tuple, dict]:
    """``(args, kwargs)`` with each of ``tensors`` replaced by its static buffer."""
    by_id = {id(t): s for t, s in zip(tensors, static)}
    return pytree.tree_map_only(torch.Tensor, lambda t: by_id[id(t)], (args, kwargs))


def _synced(out: Any, start: float) -> float:
    for leaf in pytree.tree_leaves(out):
        if torch.is_tensor(leaf) and leaf.is_cuda:
            torch.cuda.synchronize(leaf.device)
            break
    return time.perf_counter() - start


def _graphs_compiled() -> int:
    return torch._dynamo.utils.counters["stats"]["unique_graphs"]
