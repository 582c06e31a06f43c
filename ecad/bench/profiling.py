"""Where a pipeline call's GPU time goes: one call under ``torch.profiler``.

The split a compiled schedule needs explained: how long the GPU was busy (the union of its
kernels' intervals) against the call's wall time (the rest is the GPU waiting on the host:
Python, launches, synchronisations), and which kernels took the busy time. CUPTI records the
kernels of replayed CUDA graphs too.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import torch

__all__ = ["busy_ms", "profile_call"]

TOP_KERNELS = 15


def busy_ms(intervals: list[tuple[float, float]]) -> float:
    """Length of the union of ``(start, end)`` intervals (microseconds in, milliseconds out)."""
    total, end = 0.0, float("-inf")
    for start, stop in sorted(intervals):
        if stop <= end:
            continue
        total += stop - max(start, end)
        end = stop
    return total / 1e3


def profile_call(call: Callable[[], Any], device: str | torch.device) -> dict[str, Any]:
    """Run ``call`` once profiled: wall ms, GPU busy ms, the kernels' span, kernel count, and
    the kernels that took most GPU time (name, count, total ms). Off CUDA: wall ms only."""
    from torch.profiler import ProfilerActivity, profile

    cuda = torch.device(device).type == "cuda"
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    if cuda:
        torch.cuda.synchronize(device)
    with profile(activities=activities) as prof:
        start = time.perf_counter()
        call()
        if cuda:
            torch.cuda.synchronize(device)
        wall = (time.perf_counter() - start) * 1e3
    out: dict[str, Any] = {"wall_ms": wall}
    if not cuda:
        return out
    kernels = [
        e for e in prof.events() if getattr(e.device_type, "name", "") == "CUDA" and e.name
    ]
    spans = [(e.time_range.start, e.time_range.end) for e in kernels]
    by_name: dict[str, list[float]] = {}
    for e, (a, b) in zip(kernels, spans):
        by_name.setdefault(e.name, []).append((b - a) / 1e3)
    top = sorted(by_name.items(), key=lambda kv: -sum(kv[1]))[:TOP_KERNELS]
    out.update(
        gpu_busy_ms=busy_ms(spans),
        gpu_span_ms=(max(b for _, b in spans) - min(a for a, _ in spans)) / 1e3 if spans else 0,
        kernels=len(kernels),
        top_kernels=[
            {"name": name[:120], "count": len(times), "total_ms": sum(times)}
            for name, times in top
        ],
    )
    return out
