"""CUDA graphs of the compiled engine (:mod:`ecad.caching.compiled`): one captured graph per
step pattern, static buffers for every cache entry (so every graph reads and writes one
address), and snapshots of the hooks' caches around a capture."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.utils import _pytree as pytree

from ecad.caching.state import in_graph, nbytes

__all__ = [
    "CapturedGraph",
    "CudaGraph",
    "StaticCaches",
    "call_signature",
    "clone_contiguous",
    "copy_into",
    "device_of",
    "flatten_call",
    "restore_caches",
    "snapshot_caches",
    "version",
]

# Where the engine's hooks keep what they cache (BlockHook, component and TGATE hooks).
_CACHE_ATTRS = ("cache", "average")


class StaticCaches:
    """One buffer per cache entry, so that every CUDA graph reads and writes it at one address.

    Buffers are made on an entry's first store, which the engine runs eagerly before the
    capture (never inside a graph being traced or captured); later stores copy into them (a
    compiled block writes them itself, fused with the output's other reader).

    With ``adopt`` (the hooks run as Python while a graph is captured: block scope, or the
    eager engine captured), the *first graph captured* on the schedule's memory pool keeps the
    entries it stores instead: each one's buffer is the tensor that graph computes it into,
    taken as it is during the capture, so that graph never copies it (FORA's computed steps
    are all that graph: no copy at all). A capture runs nothing, so these buffers are then
    filled with the values the run just before the capture computed (:meth:`before_capture`
    keeps them aside). Only the first graph: the graphs share one pool, and a tensor a later
    capture kept could lie in memory an earlier graph uses as scratch, which its next replay
    would overwrite; the first graph's kept tensors are alive through every later capture, so
    no other graph's scratch lies there."""

    def __init__(self, adopt: bool = False) -> None:
        self.adopt = adopt
        self.buffers: dict[tuple, Any] = {}
        self._phase: str | None = None  # "before" a capture that adopts, in "capture", else None
        self._captured = False  # a graph was captured on the pool
        self._pending: dict[tuple, Any] = {}
        self._adopted: list[tuple] = []
        self._inputs: set[int] = set()  # storages of the captured call's inputs

    def hold(self, key: tuple, value: Any) -> Any:
        buffer = self.buffers.get(key)
        if buffer is not None:
            return copy_into(buffer, value)
        if self._phase == "before" and not self._aliases_an_input(value):
            # the capture that follows adopts this entry
            self._pending[key] = value
            return value
        if self._phase == "capture":
            self.buffers[key] = value
            self._adopted.append(key)
            return value
        if in_graph():
            raise RuntimeError(f"cache entry {key} first stored inside a graph")  # a bug
        buffer = self.buffers[key] = pytree.tree_map(clone_contiguous, value)
        return buffer

    def inputs(self, tensors: list[torch.Tensor]) -> None:
        """The static inputs of the call about to be captured: a value that is (a view of) one
        of them is never adopted (the next call's inputs overwrite it), it gets a buffer."""
        self._inputs = {t.untyped_storage().data_ptr() for t in tensors}

    def _aliases_an_input(self, value: Any) -> bool:
        return any(
            torch.is_tensor(leaf) and leaf.untyped_storage().data_ptr() in self._inputs
            for leaf in pytree.tree_leaves(value)
        )

    @property
    def adopting(self) -> bool:
        """The next capture keeps the entries it stores first (the pool's first graph)."""
        return self.adopt and not self._captured

    @contextmanager
    def before_capture(self) -> Iterator[None]:
        """The runs that precede a capture: entries first stored here are kept aside for the
        capture to adopt, or, where it does not, get their buffers now."""
        self._phase = "before" if self.adopting else None
        try:
            yield
        except BaseException:
            self._forget()
            raise
        finally:
            self._phase = None

    @contextmanager
    def capturing(self) -> Iterator[None]:
        """A capture: entries first stored in it keep the graph's own tensors as buffers, then
        get the values the run before computed."""
        self._phase = "capture" if self.adopting else None
        try:
            yield
            for key in self._adopted:
                if key not in self._pending:  # the run before stored less: a bug
                    raise RuntimeError(f"cache entry {key} first stored in a capture only")
                copy_into(self.buffers[key], self._pending[key])
            self._captured = True
        except BaseException:  # no graph: what it kept is no buffer
            for key in self._adopted:
                self.buffers.pop(key, None)
            raise
        finally:
            self._phase = None
            self._forget()

    def _forget(self) -> None:
        self._pending.clear()
        self._adopted.clear()
        self._inputs = set()

    def nbytes(self) -> int:
        return sum(nbytes(v) for v in self.buffers.values())


def copy_into(buffer: Any, value: Any) -> Any:
    """Copy ``value``'s tensors into ``buffer``'s (same structure); returns ``buffer``. A leaf
    that already is its buffer (a compiled block wrote it there) is left alone."""
    for dst, src in zip(pytree.tree_leaves(buffer), pytree.tree_leaves(value)):
        if dst is not src:
            dst.copy_(src)
    return buffer


def clone_contiguous(value: Any) -> Any:
    return value.clone(memory_format=torch.contiguous_format) if torch.is_tensor(value) else value


def _copy_containers(value: Any) -> Any:
    """Dicts copied (recursively), tensors shared: the Python side of the caches. Runs after
    every replay, so leaves are not recursed into."""
    if type(value) is not dict:
        return value
    return {k: _copy_containers(v) if type(v) is dict else v for k, v in value.items()}


def snapshot_caches(hooks: list[Any]) -> list[tuple[Any, dict[str, Any]]]:
    return [
        (hook, {a: _copy_containers(getattr(hook, a)) for a in _CACHE_ATTRS if hasattr(hook, a)})
        for hook in hooks
    ]


def restore_caches(snapshot: list[tuple[Any, dict[str, Any]]]) -> None:
    for hook, attrs in snapshot:
        for name, value in attrs.items():
            setattr(hook, name, _copy_containers(value))


def flatten_call(args: tuple, kwargs: dict) -> tuple[list[Any], Any]:
    """A call's leaves and a description of its structure (what the graphs depend on): for
    plain tuples, lists and dicts of tensors and scalars, in a tenth of ``pytree``'s time (it
    runs before every replay); anything else goes through ``pytree.tree_flatten``."""
    leaves: list[Any] = []
    try:
        return leaves, _structure((args, kwargs), leaves)
    except _Unusual:
        return pytree.tree_flatten((args, kwargs))


class _Unusual(Exception):
    pass


_SCALARS = (type(None), bool, int, float, str, torch.dtype, torch.device)


def _structure(value: Any, leaves: list[Any]) -> Any:
    kind = type(value)
    if kind is tuple or kind is list:
        return kind, tuple(_structure(x, leaves) for x in value)
    if kind is dict:
        return dict, tuple(value), tuple(_structure(x, leaves) for x in value.values())
    if kind in _SCALARS or isinstance(value, torch.Tensor):
        leaves.append(value)
        return None
    raise _Unusual


def call_signature(leaves: list[Any], spec: Any) -> tuple:
    """What a captured graph depends on, from a call's flattened ``(args, kwargs)``: the
    structure, each tensor's shape, dtype and device, and every other value."""
    return (
        spec,
        tuple(
            (x.shape, x.dtype, x.device) if torch.is_tensor(x) else repr(x) for x in leaves
        ),
    )


def device_of(leaves: list[Any]) -> torch.device | None:
    for leaf in leaves:
        if torch.is_tensor(leaf):
            return leaf.device
    return None


class CudaGraph:
    """One captured CUDA graph; all of a schedule's graphs share one memory pool and one
    capture stream (they replay one after another, never at once)."""

    #: A replay runs no Python (a stand-in that re-runs the call needs the caches settled).
    runs_python = False

    def __init__(self, pool: Any, stream: Any) -> None:
        self.pool, self.stream = pool, stream
        self.graph = torch.cuda.CUDAGraph()

    @staticmethod
    def shared() -> tuple[Any, Any]:
        return torch.cuda.graph_pool_handle(), torch.cuda.Stream()

    def warm(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` on the capture stream (lazy library state is made there, not in capture)."""
        self.stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(self.stream):
            out = fn()
        torch.cuda.current_stream().wait_stream(self.stream)
        return out

    def capture(self, fn: Callable[[], Any]) -> Any:
        with torch.cuda.graph(self.graph, pool=self.pool, stream=self.stream):
            return fn()

    def replay(self) -> None:
        self.graph.replay()


@dataclass
class CapturedGraph:
    graph: Any
    #: static buffers of the call's tensors, in :func:`flatten_call` order
    inputs: list[torch.Tensor]
    output: Any
    after: list[tuple[Any, dict[str, Any]]]
    #: the caches' bytes after a replay (static buffers: the same after every replay)
    held: int = 0
    #: inputs the graph writes to (their buffer changes at replay): always copied
    written: list[bool] = field(default_factory=list)
    #: per input, the tensor last copied in and its version then: the same tensor unchanged
    #: (prompt embeddings, masks) is not copied again
    sources: list[Any] = field(init=False)

    def __post_init__(self) -> None:
        self.sources = [None] * len(self.inputs)
        self.written = self.written or [False] * len(self.inputs)

    def load(self, tensors: list[torch.Tensor]) -> None:
        """Copy a call's tensors into the static input buffers."""
        sources = self.sources
        for i, (dst, src) in enumerate(zip(self.inputs, tensors)):
            last = sources[i]
            if last is not None and last[0] is src and last[1] == version(src):
                continue
            dst.copy_(src)
            known = version(src)
            sources[i] = None if self.written[i] or known is None else (src, known)


def version(tensor: torch.Tensor) -> int | None:
    """A tensor's version counter (bumped by every in-place change), ``None`` for tensors made
    under ``torch.inference_mode``, which keep none."""
    return None if tensor.is_inference() else tensor._version
