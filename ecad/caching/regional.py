"""Compiling parts of the compiled engine (:mod:`ecad.caching.compiled`): a fresh function per
pattern (its own dynamo cache), regional compilation of lean blocks (``compile_scope="blocks"``)
and the error a failed compilation raises."""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any

import torch
from torch.utils import _pytree as pytree

from ecad.caching.cuda_graphs import copy_into
from ecad.caching.reuse_runs import reused_sum
from ecad.errors import ScheduleCompileError

__all__ = ["COMPILE_ERRORS", "RegionalBlocks", "compile_error", "fresh_function"]


def fresh_function(template: Callable[..., Any], name: str) -> Callable[..., Any]:
    """A copy of ``template`` with its own code object, so its own dynamo cache: one entry per
    pattern, looked up without trying the guards of the others."""
    code = template.__code__.replace(co_name=name, co_qualname=name)
    return types.FunctionType(code, template.__globals__, name)


class _CollectStep:
    """The :class:`~ecad.caching.recipes.BlockStep` inside a compiled block: runs what it is
    told, reads the cached outputs it is given, hands back what it computed (written into
    ``targets``, the static buffers of kept outputs, where it is given them)."""

    fused = True  # inside a graph the kernels module leaves fusion to the compiler anyway

    def __init__(self, run: tuple, cached: dict[str, Any], targets: dict[str, Any]) -> None:
        self.run, self.cached_, self.targets, self.computed = dict(run), cached, targets, {}

    def computes(self, name: str) -> bool:
        return self.run[name]

    def cached(self, name: str) -> Any:
        return self.cached_[name]

    def store(self, name: str, output: Any) -> Any:
        target = self.targets.get(name)
        if target is None:
            self.computed[name] = output
            return output
        self.computed[name] = copy_into(target, output)
        return output


def _run_block(forward, module, run, cached, targets, args, kwargs):
    step = _CollectStep(run, cached, targets)
    out = forward(module, step, *args, **kwargs)
    return out, step.computed


class RegionalBlocks:
    """``compile_scope="blocks"``: each lean block compiles once per block pattern (block
    class, components run, cached outputs read), shared by every block of its class, and each
    run of wholly reused blocks once per run length (:mod:`ecad.caching.reuse_runs`); the
    transformer's work before and after the blocks once each where its class has an outer
    recipe (:mod:`ecad.caching.outer`), else it runs as it is. In the CUDA-graph modes the
    whole step is captured as one graph. A schedule's block patterns are few (PixArt at most
    8 per class), so compilation stays short however many step patterns the schedule has."""

    def __init__(self, options: dict[str, Any], describe: Callable[[], str]) -> None:
        self.options, self.describe = options, describe
        self._functions: dict[tuple, Callable[..., Any]] = {}

    def __call__(self, recipe, module, run, cached, targets, args, kwargs) -> Any:
        kind = type(module)
        key = (kind, run, tuple(cached), tuple(targets))
        fn = self._compiled(key, _run_block, f"block_{kind.__name__}")
        return self._call(fn, f"block {kind.__name__}", recipe.forward, module, run, cached,
                          targets, args, kwargs)

    def reused_run(self, recipe, modules, cached, places, args, kwargs) -> Any:
        """A run of wholly reused blocks (:mod:`ecad.caching.reuse_runs`): one graph per block
        class and run length, shared by every run of that length."""
        kind, n = type(modules[0]), len(modules)
        key = (kind, "run", n, tuple(tuple(c) for c in cached), places)
        fn = self._compiled(key, reused_sum, f"run_{kind.__name__}_{n}")
        return self._call(fn, f"run of {n} reused {kind.__name__} blocks", recipe.reused,
                          modules, cached, places, args, kwargs)

    def outer(self, name: str, function: Callable[..., Any], model: Any, *values: Any) -> Any:
        """A part of the transformer around the blocks (:mod:`ecad.caching.outer`): one graph
        per part, whatever the step pattern."""
        fn = self._compiled(("outer", name), function, f"outer_{name}")
        return self._guarded(fn, f"the transformer's {name}", model, *values)

    def _compiled(self, key: tuple, template: Callable[..., Any], name: str) -> Any:
        fn = self._functions.get(key)
        if fn is None:
            fresh = fresh_function(template, f"ecad_{name}_{len(self._functions)}")
            fn = self._functions[key] = torch.compile(fresh, **self.options)
        return fn

    def _call(self, fn, where: str, *inputs: Any) -> Any:
        *head, args, kwargs = inputs
        # One memory layout for every block (PixArt's first block gets a transposed stream,
        # FLUX's blocks slices): otherwise dynamo compiles each pattern once per layout.
        args, kwargs = pytree.tree_map_only(torch.Tensor, _contiguous, (args, kwargs))
        return self._guarded(fn, where, *head, args, kwargs)

    def _guarded(self, fn, where: str, *inputs: Any) -> Any:
        try:
            return fn(*inputs)
        except COMPILE_ERRORS as exc:
            raise compile_error(self.describe(), where, exc) from exc


COMPILE_ERRORS = (torch._dynamo.exc.Unsupported, torch._dynamo.exc.BackendCompilerFailed)


def compile_error(what: str, where: str, exc: Exception) -> ScheduleCompileError:
    first = str(exc).splitlines()[0] if str(exc) else ""
    return ScheduleCompileError(
        f"cannot compile {what} ({where}): {type(exc).__name__}: {first}. Run it eagerly "
        "(compile=None), or wrap only the plain transformer in torch.compile"
    )


def _contiguous(value: torch.Tensor) -> torch.Tensor:
    return value.contiguous()
