"""A CPU stand-in for a CUDA graph, for tests of the compiled engine's CUDA-graph path."""

from __future__ import annotations

from torch.utils import _pytree as pytree


class ReplayGraph:
    """CPU stand-in for a CUDA graph: capture runs the call once and keeps its output;
    replay runs it again and writes the result into that output, as a replay rewrites the
    graph's memory (the engine puts the caches' Python side back after each replay)."""

    runs_python = True

    def __init__(self, pool: object, stream: object) -> None:
        self.fn = self.output = None

    @staticmethod
    def shared() -> tuple[None, None]:
        return None, None

    def warm(self, fn):
        return fn()

    def capture(self, fn):
        self.fn, self.output = fn, fn()
        return self.output

    def replay(self) -> None:
        for dst, src in zip(pytree.tree_leaves(self.output), pytree.tree_leaves(self.fn())):
            dst.copy_(src)


class UnexecutedCapture(ReplayGraph):
    """A stand-in whose capture, like a CUDA graph's, leaves nothing computed: the capture's
    output and the cache buffers it made hold NaN until the engine fills them (the static
    caches come from ``static()``, set by the test)."""

    static = None

    def capture(self, fn):
        caches = type(self).static()
        before = {id(v) for v in pytree.tree_leaves(caches.buffers)}
        out = super().capture(fn)
        for leaf in [*pytree.tree_leaves(out), *pytree.tree_leaves(caches.buffers)]:
            if id(leaf) not in before:
                leaf.fill_(float("nan"))
        return out
