"""Timing with CUDA events (wall clock on the CPU), peak memory, and what ran where."""

from __future__ import annotations

import platform
import time
from collections.abc import Callable
from typing import Any

import torch

__all__ = ["GpuTimer", "ModuleClock", "environment", "peak_memory", "reset_peak_memory"]


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


class ModuleClock:
    """Milliseconds spent inside a module's calls while installed: CUDA events recorded on the
    stream around each call (GPU time, gaps included where the GPU waits for the host inside
    the call), ``perf_counter`` elsewhere. Splits a pipeline call into the denoiser's time and
    the rest (the sampler's step, guidance, host work), which caching cannot shorten.

        with ModuleClock(pipe.transformer, device) as clock:
            pipe(...)
        clock.total_ms()
    """

    def __init__(self, module: torch.nn.Module, device: str | torch.device) -> None:
        self.module = module
        self.cuda = torch.device(device).type == "cuda"
        self._spans: list[tuple[Any, Any]] = []
        self._handles: list[Any] = []

    def _mark(self) -> Any:
        if not self.cuda:
            return time.perf_counter()
        event = torch.cuda.Event(enable_timing=True)
        event.record()
        return event

    def _before(self, module: torch.nn.Module, args: Any) -> None:
        self._spans.append((self._mark(), None))

    def _after(self, module: torch.nn.Module, args: Any, output: Any) -> None:
        start, _ = self._spans[-1]
        self._spans[-1] = (start, self._mark())

    def __enter__(self) -> ModuleClock:
        self._spans.clear()
        self._handles = [
            self.module.register_forward_pre_hook(self._before),
            self.module.register_forward_hook(self._after),
        ]
        return self

    def __exit__(self, *exc: object) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    @property
    def calls(self) -> int:
        return len(self._spans)

    def call_ms(self) -> list[float]:
        """Milliseconds of each finished call, in call order."""
        done = [(a, b) for a, b in self._spans if b is not None]
        if not self.cuda:
            return [(b - a) * 1e3 for a, b in done]
        if done:
            done[-1][1].synchronize()
        return [float(a.elapsed_time(b)) for a, b in done]

    def total_ms(self) -> float:
        return float(sum(self.call_ms()))


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
