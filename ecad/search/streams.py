"""CUDA streams for a worker that generates and scores on one GPU at once.

With ``ecad worker --concurrency 2`` one task's scoring runs while another task generates. On
one CUDA stream their kernels queue behind each other, so every millisecond the scorer spends on
the GPU is a millisecond the generation waits. With ``streams=True`` generation runs on a
high-priority stream and scoring on a stream of its own at normal priority: the GPU's block
scheduler gives free SMs to the generation first and lets the scorer's kernels fill the rest.

Each stream first waits for the work already queued on the device's current stream (weights and
tables placed there), and the current stream waits for it on exit, so results are ordered as on
one stream. Off CUDA, or with ``streams=False``, both contexts do nothing.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

__all__ = ["GpuStreams"]

_PRIORITIES = {"generate": -1, "score": 0}  # lower is more urgent in CUDA


class GpuStreams:
    """The two streams of one evaluator (created on first use, one per role)."""

    def __init__(self, device: str, enabled: bool) -> None:
        self.device = device
        self.enabled = bool(enabled) and str(device).startswith("cuda")
        self._streams: dict[str, Any] = {}
        self._lock = threading.Lock()

    def _stream(self, role: str) -> Any:
        import torch

        with self._lock:
            if role not in self._streams:
                self._streams[role] = torch.cuda.Stream(self.device,
                                                        priority=_PRIORITIES[role])
            return self._streams[role]

    @contextlib.contextmanager
    def _on(self, role: str) -> Iterator[None]:
        if not self.enabled:
            yield
            return
        import torch

        stream = self._stream(role)
        outer = torch.cuda.current_stream(self.device)
        stream.wait_stream(outer)
        try:
            with torch.cuda.stream(stream):
                yield
        finally:
            outer.wait_stream(stream)

    def generating(self) -> contextlib.AbstractContextManager[None]:
        return self._on("generate")

    def scoring(self) -> contextlib.AbstractContextManager[None]:
        return self._on("score")
