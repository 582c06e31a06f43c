"""Latency cost tables: milliseconds per slot and step, measured on the GPU that will run them.

The transformer is driven on its own with the inputs of a real pipeline call, under the caching
engine, through three-step schedules: step 0 computes everything, step 1 is the *pattern* being
timed (CUDA events around that one forward), step 2 reuses what step 1 made (so nothing step 1
computes is dead). Patterns: everything computed, nothing computed, and for each component type
(a component of one block group) "only this type reused". A non-negative least-squares fit of
``base + sum(computed slots' cost)`` to those times gives one cost per component type (equal for
every block of a group) and the base; the base also carries the pipeline's own per-step work
outside the transformer (sampler, guidance, input preparation), timed as a whole pipeline call
whose transformer is replaced by a stub returning a recorded output.

Example:
    >>> table = latency_table(pipe, family, call_kwargs)  # doctest: +SKIP
    >>> table.save("benchmarks/results/latency-pixart-alpha-256-b200.json")  # doctest: +SKIP
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ecad.cost.table import CostTable
from ecad.errors import ConfigError

__all__ = ["LatencyCalibration", "calibrate_latency", "latency_table"]


@dataclass
class LatencyCalibration:
    """A fitted latency table and what it was fitted to (per pattern: measured, fitted ms)."""

    table: CostTable
    plain_forward_ms: float
    overhead_ms_per_step: float
    patterns: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "table": self.table.to_json(),
            "plain_forward_ms": self.plain_forward_ms,
            "overhead_ms_per_step": self.overhead_ms_per_step,
            "patterns": self.patterns,
        }


class _Captured(Exception):
    """Stops the pipeline once the transformer's first inputs are recorded."""


def _capture_inputs(pipe: Any, call_kwargs: dict[str, Any]) -> tuple[tuple, dict[str, Any]]:
    seen: dict[str, Any] = {}

    def grab(module: torch.nn.Module, args: tuple, kwargs: dict[str, Any]) -> None:
        seen["args"], seen["kwargs"] = args, kwargs
        raise _Captured

    handle = pipe.transformer.register_forward_pre_hook(grab, with_kwargs=True)
    try:
        pipe(**call_kwargs, output_type="latent")
    except _Captured:
        pass
    finally:
        handle.remove()
    if "kwargs" not in seen:
        raise ConfigError("the pipeline call never reached its transformer")
    return seen["args"], seen["kwargs"]


def _component_types(layout: Any) -> list[tuple[str, str]]:
    return list(dict.fromkeys((s.group, s.component) for s in layout.slots))


def _consumer_types(transformer: torch.nn.Module, layout: Any) -> set[tuple[str, str]]:
    """Component types that read other components' outputs (FLUX single ``proj_out``)."""
    from ecad.caching.recipes import recipe_for

    out: set[tuple[str, str]] = set()
    for group in layout.family.block_groups:
        recipe = recipe_for(getattr(transformer, group.module_list)[0])
        if recipe is None:
            continue
        by_path = {path: name for name, path in group.component_paths.items()}
        out |= {(group.name, by_path[p]) for p in recipe.consumers.values() if p in by_path}
    return out


def _patterns(types: list[tuple[str, str]]) -> list[tuple[str, dict[tuple[str, str], bool]]]:
    out = [
        ("all computed", dict.fromkeys(types, True)),
        ("all reused", dict.fromkeys(types, False)),
    ]
    out += [(f"reuse {k[0]}.{k[1]}", {t: t != k for t in types}) for k in types]
    return out


def calibrate_latency(
    pipe: Any,
    family: Any,
    call_kwargs: dict[str, Any],
    *,
    repeats: int = 3,
    warmup: int = 1,
    resolution: int | None = None,
) -> LatencyCalibration:
    """Measure and fit a ``latency`` :class:`CostTable` for ``pipe`` of ``family`` (a
    :class:`~ecad.families.ModelFamily` or its name) under the engine's default configuration,
    at the shapes of ``call_kwargs`` (one pipeline call's keyword arguments, ``output_type``
    excluded). Milliseconds per transformer call.
    """
    from ecad.bench.timing import GpuTimer
    from ecad.caching import apply_schedule, remove_schedule
    from ecad.families import get_family
    from ecad.schedules import Schedule, ScheduleLayout

    if repeats < 1:
        raise ConfigError(f"repeats must be >= 1, got {repeats}")
    transformer = pipe.transformer
    family = get_family(family)
    layout = ScheduleLayout.for_model(family, transformer)
    types = _component_types(layout)
    consumers = _consumer_types(transformer, layout)
    slot_type = [(s.group, s.component) for s in layout.slots]
    args, kwargs = _capture_inputs(pipe, call_kwargs)
    timer = GpuTimer(pipe._execution_device)
    steps = int(call_kwargs.get("num_inference_steps") or family.default_steps)

    @torch.no_grad()
    def forward() -> None:
        transformer(*args, **kwargs)

    def median(fn: Any, warm: int = 0) -> float:
        for _ in range(warm):
            fn()
        return float(statistics.median(fn() for _ in range(repeats)))

    plain = median(lambda: timer(forward), warmup)
    overhead = _pipeline_overhead(pipe, call_kwargs, args, kwargs, timer, repeats) / steps
    rows, measured, names = [], [], []
    for name, computed in _patterns(types):
        step1 = np.array([computed[t] for t in slot_type])
        step2 = np.array([t in consumers for t in slot_type])
        bits = np.stack([np.ones_like(step1), step1, step2])
        apply_schedule(transformer, Schedule(layout, bits))
        try:

            def one() -> float:
                forward()
                ms = timer(forward)
                forward()
                return ms

            # The first pattern also warms the engine's kernels up.
            measured.append(median(one, warmup if not names else 0))
        finally:
            remove_schedule(transformer)
        names.append(name)
        rows.append([1.0] + [float(computed[t]) * slot_type.count(t) for t in types])
    design, target = np.array(rows), np.array(measured)
    # Non-negative least squares: a component cannot cost negative time, and on a noisy machine
    # a plain least-squares fit can say so (a table the cost model then refuses to load).
    from scipy.optimize import nnls

    coef, _ = nnls(design, target)
    fitted = design @ coef
    per_type = dict(zip(types, coef[1:]))
    rows_per_call = int(_hidden_states(args, kwargs).shape[0])
    table = CostTable(
        layout=layout,
        mode="latency",
        resolution=int(resolution or call_kwargs.get("height") or family.default_resolution),
        batch=rows_per_call,
        base=float(coef[0] + overhead),
        slot_costs=np.array([per_type[t] for t in slot_type], dtype=np.float64),
        unit="ms",
        source=(
            f"CUDA-event timing on {_device_name(pipe)}: {len(names)} step patterns, median of "
            f"{repeats}, least-squares per component type; torch {torch.__version__}"
        ),
    )
    patterns = [
        {"pattern": n, "measured_ms": float(m), "fitted_ms": float(f)}
        for n, m, f in zip(names, measured, fitted)
    ]
    return LatencyCalibration(table, plain, overhead, patterns)


def _pipeline_overhead(
    pipe: Any, call_kwargs: dict[str, Any], args: tuple, kwargs: dict[str, Any], timer, repeats
) -> float:
    """Milliseconds of one pipeline call spent outside its transformer: the call is timed with
    the transformer's forward replaced by one returning a recorded output."""
    transformer = pipe.transformer
    with torch.no_grad():
        recorded = transformer(*args, **kwargs)
    had_own = "forward" in transformer.__dict__
    own = transformer.__dict__.get("forward")
    transformer.forward = lambda *a, **k: recorded
    try:
        pipe(**call_kwargs, output_type="latent")  # warm-up
        return float(
            statistics.median(
                timer(lambda: pipe(**call_kwargs, output_type="latent")) for _ in range(repeats)
            )
        )
    finally:
        if had_own:
            transformer.forward = own
        else:
            del transformer.forward


def latency_table(pipe: Any, family: Any, call_kwargs: dict[str, Any], **options: Any) -> CostTable:
    """The fitted table of :func:`calibrate_latency`."""
    return calibrate_latency(pipe, family, call_kwargs, **options).table


def _hidden_states(args: tuple, kwargs: dict[str, Any]) -> torch.Tensor:
    value = kwargs.get("hidden_states", args[0] if args else None)
    if not isinstance(value, torch.Tensor):
        raise ConfigError("the transformer was called without hidden_states")
    return value


def _device_name(pipe: Any) -> str:
    device = pipe._execution_device
    return torch.cuda.get_device_name(device) if device.type == "cuda" else str(device)
