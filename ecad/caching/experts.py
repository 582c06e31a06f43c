"""Two-expert pipelines (Wan 2.2): one schedule, split into one schedule per transformer.

The pipeline runs one expert per step (``transformer`` while the timestep is at least the
boundary, ``transformer_2`` after). Each expert gets the schedule's rows of the steps it runs;
the rows of the other expert's steps recompute (they never run on this expert, and so nothing
is kept for them), and the expert's first step computes everything (``Schedule.effective``).
Each expert follows the pipeline's sampler, so both see the pipeline's own step index.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch

from ecad.errors import ConfigError, ScheduleMismatchError
from ecad.schedules import Schedule

__all__ = ["expert_schedules", "expert_transformers", "pipeline_expert_steps"]


def pipeline_expert_steps(pipeline: Any, steps: int) -> tuple[int, ...]:
    """Which expert the pipeline runs at each of ``steps`` steps, read from its own sampler
    (a copy, set to ``steps``) and ``boundary_ratio``, as ``WanPipeline.__call__`` decides."""
    ratio = getattr(pipeline.config, "boundary_ratio", None)
    if ratio is None:
        return (0,) * steps
    sampler = copy.deepcopy(pipeline.scheduler)
    sampler.set_timesteps(steps, device="cpu")
    boundary = ratio * sampler.config.num_train_timesteps
    return tuple(0 if t >= boundary else 1 for t in sampler.timesteps)


def expert_transformers(pipe_or_transformer: Any, experts: tuple[str, ...]) -> list[Any]:
    """The pipeline's expert transformers that are loaded, in expert order."""
    if isinstance(pipe_or_transformer, torch.nn.Module) or len(experts) == 1:
        return []
    return [
        m
        for name in experts
        if isinstance(m := getattr(pipe_or_transformer, name, None), torch.nn.Module)
    ]


def expert_schedules(
    pipeline: Any, schedule: Schedule
) -> list[tuple[Any, Schedule, tuple[int, ...]]]:
    """``(transformer, its schedule, the steps it runs)`` of each expert of a two-expert
    family's pipeline; its schedule computes everything at the other expert's steps."""
    family = schedule.layout.family
    if isinstance(pipeline, torch.nn.Module):
        raise ScheduleMismatchError(
            f"{family.name} runs {len(family.experts)} transformers, one per step: apply its "
            "schedule to the pipeline, not to one transformer"
        )
    expected = family.expert_of_steps(schedule.steps)
    actual = pipeline_expert_steps(pipeline, schedule.steps)
    if actual != expected:
        raise ScheduleMismatchError(
            f"this pipeline switches experts at other steps than {family.name}'s schedules "
            f"assume ({_switch(actual)} vs {_switch(expected)} of {schedule.steps}): its sampler "
            "shift or boundary_ratio differ from the published model's"
        )
    out = []
    bits = schedule.effective()
    owner = np.asarray(expected)
    for index, name in enumerate(family.experts):
        module = getattr(pipeline, name, None)
        if not isinstance(module, torch.nn.Module):
            if index in expected:
                raise ConfigError(
                    f"{family.name}: the pipeline has no {name}, which runs steps "
                    f"{np.flatnonzero(owner == index).tolist()}"
                )
            continue
        own = bits.copy()
        own[owner != index, :] = True
        runs = tuple(int(t) for t in np.flatnonzero(owner == index))
        out.append((module, Schedule(schedule.layout, own, schedule.metadata), runs))
    return out


def _switch(steps: tuple[int, ...]) -> str:
    return f"step {steps.index(1)}" if 1 in steps else "no switch"
