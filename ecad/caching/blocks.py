"""Block-level caching: one hook per block that runs the block's lean forward (see ``recipes``).

The hook owns the caches of the block's components, per guidance branch, and a
:class:`BlockPlan` worked out once per schedule: for every step and component, whether it runs
and whether its output is kept for a later step. That is the component engine's semantics (a
component runs when its bit says so, reuse returns the output of the last step it ran) minus the
work whose result is never read.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from diffusers.hooks import ModelHook

from ecad.caching.recipes import BlockRecipe
from ecad.caching.reuse_runs import MEMBER, reused_sum
from ecad.caching.state import CallState, nbytes
from ecad.caching.tgate import cross_attention_gates

__all__ = ["BlockPlan", "plan_block", "with_entries"]


@dataclass(frozen=True)
class BlockPlan:
    """Per component (attribute path): ``run[t]`` and ``keep[t]`` for every step ``t``."""

    run: Mapping[str, tuple[bool, ...]]
    keep: Mapping[str, tuple[bool, ...]]


def plan_block(recipe: BlockRecipe, effective: Mapping[str, np.ndarray], steps: int) -> BlockPlan:
    """Plan one block from the schedule's effective bits of its components (``True`` = the
    schedule recomputes; a component the schedule does not cover always recomputes).

    A component's value at step ``t`` is *read* if its consumer (the residual stream, or the
    component named in ``recipe.consumers``) runs at ``t``, or if step ``t + 1`` reuses it and it
    is read there. It runs at ``t`` only if scheduled and read, and is kept only if read later.
    """
    bits = {
        name: np.asarray(effective.get(name, np.ones(steps, bool)), dtype=bool)
        for name in recipe.components
    }
    run: dict[str, tuple[bool, ...]] = {}
    keep: dict[str, tuple[bool, ...]] = {}
    # Consumers first: a component's liveness depends on whether its consumer runs.
    order = sorted(recipe.components, key=lambda n: n in recipe.consumers)
    for name in order:
        eff = bits[name]
        consumer = recipe.consumers.get(name)
        consumed_now = np.array(run[consumer]) if consumer else np.ones(steps, bool)
        read = np.zeros(steps, bool)
        kept = np.zeros(steps, bool)
        for t in range(steps - 1, -1, -1):
            later = t + 1 < steps and not eff[t + 1] and read[t + 1]
            kept[t] = later
            read[t] = consumed_now[t] or later
        run[name] = tuple(bool(x) for x in eff & read)
        keep[name] = tuple(bool(x) for x in kept & (eff | read))
    return BlockPlan(run=run, keep=keep)


def with_entries(plan: BlockPlan) -> BlockPlan:
    """``plan`` with one *entry* row per step appended (row ``steps + k``): a call that starts
    at row ``k`` (``strength`` < 1) holds no cache there, so every component runs, and it keeps
    what row ``k`` keeps (a row's keeping depends on later rows only)."""
    return BlockPlan(
        run={n: r + (True,) * len(r) for n, r in plan.run.items()},
        keep={n: k + k for n, k in plan.keep.items()},
    )


class _Step:
    """The :class:`~ecad.caching.recipes.BlockStep` a recipe sees for one forward call."""

    __slots__ = ("call", "fused", "key", "plan", "store_", "t")

    def __init__(
        self, plan: BlockPlan, t: int, store: dict[str, Any], call: CallState, fused, key: tuple
    ):
        self.plan, self.t, self.store_, self.call, self.fused = plan, t, store, call, fused
        self.key = key

    def computes(self, name: str) -> bool:
        return self.plan.run[name][self.t]

    def cached(self, name: str) -> Any:
        try:
            return self.store_[name]
        except KeyError:  # a bug in a plan or recipe, never a user error
            raise RuntimeError(f"no cached output of {name!r} at step {self.t}") from None

    def store(self, name: str, output: Any) -> Any:
        if self.plan.keep[name][self.t]:
            old = self.store_.pop(name, None)
            if old is not None:
                self.call.release(old)
            output = self.store_[name] = self.call.hold((*self.key, name), output)
        return output


@contextmanager
def _plain_forwards(block: torch.nn.Module, gates: Mapping[str, Any]) -> Iterator[None]:
    """The gated components' own ``forward`` while a compiled block runs: their TGATE hook
    replaces it per module, so dynamo would guard on each block's forward (one compilation per
    block, past the recompile limit); the hooks' work is done around the graph instead."""
    saved = {}
    for name in gates:
        sub = block.get_submodule(name)
        saved[name] = sub.__dict__.pop("forward", None)
    try:
        yield
    finally:
        for name, forward in saved.items():
            if forward is not None:
                block.get_submodule(name).forward = forward


class BlockHook(ModelHook):
    """On one transformer block: run its recipe with this step's plan, then drop dead caches."""

    _is_stateful = True

    def __init__(self, call: CallState, recipe: BlockRecipe, plan: BlockPlan, fused: bool) -> None:
        super().__init__()
        self.call, self.recipe, self.fused = call, recipe, fused
        self.steps = len(next(iter(plan.run.values()), ()))
        self.plan = with_entries(plan)
        self.cache: dict[str, dict[str, Any]] = {}
        self.cache_id = 0  # set by CallState.add_listener
        self._gates_of: dict[str, Any] | None = None  # true TGATE's hooks on components
        #: Per plan row, this block's part in a run of wholly reused blocks (compiled engine,
        #: :func:`ecad.caching.reuse_runs.plan_runs`); ``None``: no runs.
        self.roles: list[Any] | None = None
        #: A call's first step is a pattern of its own: where dynamo traces this hook, its
        #: caches' Python side (empty before the first step) is guarded on. Off where nothing
        #: traces it (block scope, CUDA graphs of the eager engine): a step that holds nothing
        #: and does what step 0 does is step 0's pattern (FORA's computed steps: one graph, and
        #: the first writer of each cache entry, see ``StaticCaches``).
        self.first_step_apart = True

    def can_join_run(self, block: torch.nn.Module, row: int) -> bool:
        """Whether this block reuses every component at plan row ``row`` and its recipe can add
        them to the stream as part of a run (true TGATE's gated blocks never do)."""
        if self.recipe.reused is None or self._gates(block):
            return False
        return not any(run[row] for run in self.plan.run.values())

    def new_forward(self, module: torch.nn.Module, *args: Any, **kwargs: Any) -> Any:
        t, branch = self.call.step, self.call.branch
        store = self.cache.setdefault(branch, {})
        role = self.roles[t] if self.roles is not None else None
        if role is MEMBER:  # the run's first block has added this block's outputs
            out = self.recipe.reused.passthrough(self.recipe.forward, args, kwargs)
        elif role is not None:
            out = self._run_forward(role, branch, args, kwargs)
        elif self.call.regional is not None:
            out = self._compiled_forward(module, t, branch, store, args, kwargs)
        else:
            step = _Step(self.plan, t, store, self.call, self.fused, (self.cache_id, branch))
            out = self.recipe.forward(module, step, *args, **kwargs)
        for name in [n for n in store if not self.plan.keep[n][t]]:
            self.call.release(store.pop(name))
        return out

    def _run_forward(self, role: tuple, branch: str, args: tuple, kwargs: dict) -> Any:
        """The first block of a run: the stream after every block of the run."""
        hooks, modules = role
        recipe, regional = self.recipe, self.call.regional
        stores = [hook.cache[branch] for hook in hooks]
        cached = tuple({n: s[n] for n in recipe.components if n in s} for s in stores)
        places = recipe.reused.stream_places(recipe.forward, args)
        if regional is not None:
            return regional.reused_run(recipe, modules, cached, places, args, kwargs)
        return reused_sum(recipe.reused, modules, cached, places, args, kwargs)

    def _compiled_forward(self, module, t, branch, store, args, kwargs) -> Any:
        """The recipe as one compiled graph per block *pattern* (``call.regional``): which
        components run and which cached outputs it reads; keeping what it computed is decided
        here, outside the graph."""
        runs = {n: self.plan.run[n][t] for n in self.plan.run}
        cached = {n: store[n] for n, on in runs.items() if not on and n in store}
        gates = self._gates(module)
        for name, gate in gates.items():  # true TGATE: the average is read like a cached output
            if gate.gated(t):
                hidden = args[0] if args else kwargs["hidden_states"]
                runs[name], cached[name] = False, gate.average_for(int(hidden.shape[0]))
        # Under CUDA graphs a kept output goes into its static buffer inside the block's graph,
        # where the compiler fuses the write with the output's other reader (the residual add)
        # instead of a copy of its own after the graph.
        static = self.call.static.buffers if self.call.static is not None else {}
        targets = {
            n: static[key]
            for n, on in runs.items()
            if on and self.plan.keep[n][t] and (key := (self.cache_id, branch, n)) in static
        }
        with _plain_forwards(module, gates):
            out, computed = self.call.regional(
                self.recipe, module, tuple(runs.items()), cached, targets, args, kwargs
            )
        for name, gate in gates.items():
            if gate.keeps_average(t):
                gate.keep_average(computed[name])
        for name, value in computed.items():
            if self.plan.keep[name][t]:
                old = store.pop(name, None)
                if old is not None:
                    self.call.release(old)
                store[name] = self.call.hold((self.cache_id, branch, name), value)
        return out

    def _gates(self, module: torch.nn.Module) -> dict[str, Any]:
        if self._gates_of is None:
            self._gates_of = cross_attention_gates(module, self.plan.run)
        return self._gates_of

    def step_signature(self, t: int) -> tuple:
        """What this hook does at step ``t`` (see :mod:`ecad.caching.compiled`): which
        components run, which outputs it keeps and which it holds on entry; and, unless
        :attr:`first_step_apart` is off, whether it is a call's first step."""
        plan, steps = self.plan, self.steps
        held = 0 < t < steps  # an entry row (t >= steps) holds nothing, as step 0
        return (
            self.first_step_apart and (t == 0 or t >= steps),
            *((plan.run[n][t], plan.keep[n][t], held and plan.keep[n][t - 1]) for n in plan.run),
        )

    def drop_caches(self) -> None:
        self.call.settle()  # whatever order the hooks are reset in
        for store in self.cache.values():
            for value in store.values():
                self.call.release(value)
        self.cache.clear()

    def cached_bytes(self) -> int:
        self.call.settle()
        return sum(nbytes(v) for store in self.cache.values() for v in store.values())

    def reset_state(self, module: torch.nn.Module) -> torch.nn.Module:
        self.drop_caches()
        return module
