"""Timing with CUDA events (wall clock on the CPU), peak memory, and what ran where."""

from __future__ import annotations

import platform
import time
from collections.abc import Callable
from typing import Any

import torch

__all__ = ["GpuTimer", "environment", "peak_memory", "reset_peak_memory"]


class GpuTimer:
    """Times a callable on ``device``: CUDA events around it on a GPU (after a synchronize, so
    nothing queued earlier is counted), ``perf_counter`` elsewhere. Milliseconds."""

    def __init__(self, device: str | torch.device) -> None:
        self.device = torch.device(device)
        self.cuda = self.device.type == "cuda"

    def __call__(self, fn: Callable[[], Any]) -> float:
        if not self.cuda:
            start = time.perf_counter()
            fn()
            return (time.perf_counter() - start) * 1e3
        torch.cuda.synchronize(self.device)
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        return float(start.elapsed_time(end))


def reset_peak_memory(device: str | torch.device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)


def peak_memory(device: str | torch.device) -> int:
    """Peak bytes allocated by torch on ``device`` since the last reset (0 off CUDA)."""
    if torch.device(device).type != "cuda":
        return 0
    return int(torch.cuda.max_memory_allocated(device))


def environment(device: str | torch.device) -> dict[str, Any]:
    """GPU name and library versions for a results file."""
    import diffusers

    dev = torch.device(device)
    env: dict[str, Any] = {
        "device": str(dev),
        "gpu": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu",
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "diffusers": diffusers.__version__,
        "python": platform.python_version(),
        "cudnn_benchmark": bool(torch.backends.cudnn.benchmark),
    }
    try:
        import triton

        env["triton"] = triton.__version__
    except ImportError:
        env["triton"] = None
    if dev.type == "cuda":
        props = torch.cuda.get_device_properties(dev)
        env["gpu_memory_gib"] = round(props.total_memory / 2**30, 1)
        env["multiprocessors"] = props.multi_processor_count
    return env
