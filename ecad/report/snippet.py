"""The Python a user copies to apply a learned schedule: one generator for every place that
prints it (the HTML report, ``ecad pareto --export``), so each runs as written.

The pipeline call carries the search's own setting (steps, size, guidance): a schedule is made
for one step count, and a pipeline's default size need not be one it can bin (a tiny pipeline's
is not). Torch-free: ``ecad pareto`` prints it without loading a model.

    >>> print(apply_snippet(PipelineCall("pixart-alpha", "DIR", 20, 256, 4.5), "front/a.json"))
    ... # doctest: +SKIP
"""

from __future__ import annotations

import json
from dataclasses import dataclass

__all__ = ["PipelineCall", "apply_snippet"]

EXAMPLE_PROMPT = "a red fox in the snow"


@dataclass(frozen=True)
class PipelineCall:
    """What the snippet loads and how it calls it: a search's family, weights and setting."""

    family: str
    weights: str
    steps: int
    resolution: int
    guidance: float

    @classmethod
    def of_spec(cls, spec) -> PipelineCall:
        return cls(spec.family, spec.weights, spec.steps, spec.resolution, spec.guidance)


def _q(text: str) -> str:
    return json.dumps(text)  # a Python string literal too, in double quotes


def _loading(call: PipelineCall, pipeline_class: str, dtype: str) -> tuple[list[str], list[str]]:
    """(imports, lines) that make ``pipe`` on ``device``."""
    from ecad.families.loading import TINY_WEIGHTS

    if call.weights == TINY_WEIGHTS:  # ecad's random-weight model of the architecture
        return (["from ecad.families import get_family",
                 "from ecad.families.loading import load_pipeline"],
                [f"pipe = load_pipeline(get_family({_q(call.family)}), {_q(TINY_WEIGHTS)}, "
                 "device=device)"])
    return ([f"from diffusers import {pipeline_class}"],
            [f'dtype = torch.{dtype} if device == "cuda" else torch.float32',
             f"pipe = {pipeline_class}.from_pretrained({_q(call.weights)}, dtype=dtype)"
             ".to(device)"])


def apply_snippet(call: PipelineCall, schedule_file: str) -> str:
    """A complete program: load the pipeline, apply the schedule in ``schedule_file``, make an
    image with the search's setting, remove the schedule."""
    from ecad.families import get_family

    family = get_family(call.family)
    binning = ", use_resolution_binning=False" if family.kind == "pixart" else ""
    imports, load = _loading(call, family.pipeline_class, family.default_dtype)
    lines = [
        "import torch",
        *imports,
        "",
        "from ecad.caching import apply_schedule, remove_schedule",
        "from ecad.schedules import read_schedule",
        "",
        'device = "cuda" if torch.cuda.is_available() else "cpu"',
        *load,
        f"apply_schedule(pipe, read_schedule({_q(schedule_file)}))",
        f"images = pipe([{_q(EXAMPLE_PROMPT)}], num_inference_steps={call.steps}, "
        f"height={call.resolution}, width={call.resolution}, "
        f"guidance_scale={call.guidance}{binning}).images",
        "remove_schedule(pipe)  # back to plain diffusers",
    ]
    return "\n".join(lines)
