"""Custom attention computations a schedule file may name (``custom_compute_attn``).

The published ECAD files of the paper's TGATE baseline carry, in every block entry,
``"custom_compute_attn": {"name": "compute_attn_tgate", "kwargs": {"gate_step": m}}`` and a
``config.pipeline`` of ``{"name": "tgate", "kwargs": {"gate_step": m}}``. Such a schedule is not a
plain boolean schedule: cross-attention is averaged over the guidance halves at step ``m - 1`` and
guidance is dropped from step ``m`` on (see :mod:`ecad.caching.tgate`). The reference
implementation falls back silently to plain caching for a name it does not know; here an unknown
name is an error.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ecad.errors import ScheduleFormatError

__all__ = ["CUSTOM_KEY", "TGATE", "CustomAttention", "custom_attention_of"]

TGATE = "compute_attn_tgate"
_KNOWN = (TGATE,)


@dataclass(frozen=True)
class CustomAttention:
    """A custom attention computation: the reference's function name and its keyword arguments.

    Only ``compute_attn_tgate`` (true TGATE, keyword ``gate_step``) is known.
    """

    name: str
    gate_step: int

    @classmethod
    def tgate(cls, gate_step: int) -> CustomAttention:
        return cls(TGATE, int(gate_step))

    @classmethod
    def from_json(cls, data: Any, where: str) -> CustomAttention:
        """Parse a ``custom_compute_attn`` entry; ``where`` names the file (and step/block)."""
        if not isinstance(data, Mapping) or not isinstance(data.get("name"), str):
            raise ScheduleFormatError(
                f"{where}: custom_compute_attn must be an object "
                f'{{"name": ..., "kwargs": {{...}}}}, got {data!r}'
            )
        name = data["name"]
        if name not in _KNOWN:
            raise ScheduleFormatError(
                f"{where}: unknown custom_compute_attn function {name!r}; known: {list(_KNOWN)} "
                "(the reference would silently fall back to plain caching; this project refuses)"
            )
        kwargs = data.get("kwargs") or {}
        gate = kwargs.get("gate_step") if isinstance(kwargs, Mapping) else None
        extra = set(kwargs) - {"gate_step"} if isinstance(kwargs, Mapping) else set()
        if isinstance(gate, bool) or not isinstance(gate, int) or gate < 1 or extra:
            raise ScheduleFormatError(
                f"{where}: {name} needs kwargs {{'gate_step': int >= 1}} and nothing else, "
                f"got {kwargs!r}"
            )
        return cls(name, gate)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "kwargs": {"gate_step": self.gate_step}}

    def pipeline_config(self) -> dict[str, Any]:
        """The ``config.pipeline`` entry the published files carry with this function."""
        return {"name": "tgate", "kwargs": {"gate_step": self.gate_step}}

    def describe(self) -> str:
        return f"true TGATE (gate at step {self.gate_step})"

    def opens_within(self, steps: int) -> bool:
        """Whether guidance is dropped inside a run of ``steps`` steps. With the gate at the last
        step + 1 (``gate_step == steps``, as in published files with m = 20 for 20 steps) the
        kept average is never used: the schedule runs, and costs, as its boolean twin."""
        return self.gate_step < steps


CUSTOM_KEY = "custom_compute_attn"
_ABSENT = object()


def custom_attention_of(
    entries: Mapping[tuple[str, str], Mapping[str, Any]], config: Any, source: str
) -> CustomAttention | None:
    """The one custom attention of a schedule file, from its block entries and ``config``.

    ``entries`` maps ``(step key, block key)`` to the block entry. Every entry must carry the
    same ``custom_compute_attn`` or none does, and a ``config.pipeline`` naming ``tgate`` must
    agree on the gate step.
    """
    values = {key: entry.get(CUSTOM_KEY, _ABSENT) for key, entry in entries.items()}
    present = {k: v for k, v in values.items() if v is not _ABSENT}
    pipeline = config.get("pipeline") if isinstance(config, Mapping) else None
    names_tgate = isinstance(pipeline, Mapping) and pipeline.get("name") == "tgate"
    if not present:
        if names_tgate:
            raise ScheduleFormatError(
                f"{source}: config.pipeline is 'tgate' but no block entry carries "
                f"{CUSTOM_KEY}; add {CUSTOM_KEY} to every entry or drop the tgate pipeline"
            )
        return None
    if len(present) != len(values):
        (step, block) = next(k for k, v in values.items() if v is _ABSENT)
        raise ScheduleFormatError(
            f"{source}: step {step}, block {block}: missing {CUSTOM_KEY} (other entries have it; "
            "a custom attention applies to every block and step)"
        )
    (step, block), first = next(iter(present.items()))
    custom = CustomAttention.from_json(first, f"{source}: step {step}, block {block}")
    for (step, block), value in present.items():
        if value != first:
            raise ScheduleFormatError(
                f"{source}: step {step}, block {block}: {CUSTOM_KEY} {value!r} differs from "
                f"{first!r} (every entry must carry the same one)"
            )
    if names_tgate:
        kwargs = pipeline.get("kwargs") or {}
        declared = kwargs.get("gate_step") if isinstance(kwargs, Mapping) else None
        if declared != custom.gate_step:
            raise ScheduleFormatError(
                f"{source}: config.pipeline.kwargs.gate_step is {declared!r} but the block "
                f"entries' {CUSTOM_KEY} has gate_step {custom.gate_step}; they must agree"
            )
    return custom
