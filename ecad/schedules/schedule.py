"""The immutable caching schedule: a boolean array ``[steps, slots]``, ``True`` = recompute."""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ecad.errors import ConfigError, ScheduleFormatError
from ecad.schedules.custom import CustomAttention
from ecad.schedules.layout import ScheduleLayout

__all__ = ["Schedule", "ScheduleMetadata"]


@dataclass(frozen=True)
class ScheduleMetadata:
    """What a schedule file carries beside its bits. Not part of the digest.

    ``config`` and ``metrics`` are kept as read (``None`` when the file had no such key), so files
    round-trip unchanged. ``declared_steps`` keeps a ``num_inference_steps`` header that disagrees
    with the number of step entries (one published FLUX file declares 8 and lists 50).
    """

    name: str = "schedule"
    attributes: Mapping[str, Any] = field(default_factory=dict)
    config: Mapping[str, Any] | None = None
    metrics: Mapping[str, Any] | None = None
    declared_steps: int | None = None


class Schedule:
    """A caching schedule for one model layout.

    ``bits[step, slot]`` is ``True`` where the component is recomputed and ``False`` where its
    output cached at the last computed step is reused. At step 0 nothing is cached, so every
    component is computed whatever its bit says (see :meth:`effective`).

    Example:
        >>> from ecad.schedules import Schedule, ScheduleLayout
        >>> layout = ScheduleLayout.for_family("pixart-alpha")
        >>> s = Schedule.full(layout, steps=20)
        >>> s.reuse_fraction()
        0.0
    """

    __slots__ = ("_bits", "_digest", "custom_attention", "layout", "metadata")

    def __init__(
        self,
        layout: ScheduleLayout,
        bits: np.ndarray,
        metadata: ScheduleMetadata | None = None,
        custom_attention: CustomAttention | None = None,
    ) -> None:
        arr = np.asarray(bits)
        if arr.dtype != np.bool_:
            raise ScheduleFormatError(f"schedule bits must be boolean, got dtype {arr.dtype}")
        if arr.ndim != 2 or arr.shape[1] != layout.num_slots or arr.shape[0] < 1:
            raise ScheduleFormatError(
                f"schedule bits must have shape [steps >= 1, {layout.num_slots}] for "
                f"{layout.describe()}, got {list(arr.shape)}"
            )
        if custom_attention is not None:
            _check_custom(layout, arr.shape[0], custom_attention)
        arr = arr.copy()
        arr.flags.writeable = False
        object.__setattr__(self, "_bits", arr)
        object.__setattr__(self, "layout", layout)
        object.__setattr__(self, "metadata", copy.deepcopy(metadata or ScheduleMetadata()))
        object.__setattr__(self, "custom_attention", custom_attention)
        object.__setattr__(self, "_digest", None)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Schedule is immutable; use with_metadata() or from_genome()")

    # construction -----------------------------------------------------------------------
    @classmethod
    def full(cls, layout: ScheduleLayout, steps: int, name: str = "no-cache") -> Schedule:
        """The all-recompute schedule (no caching)."""
        return cls(layout, np.ones((steps, layout.num_slots), bool), ScheduleMetadata(name=name))

    @classmethod
    def from_genome(
        cls, layout: ScheduleLayout, steps: int, genome: np.ndarray, name: str = "candidate"
    ) -> Schedule:
        """Inverse of :meth:`genome`: step-major flat vector, slots in layout order."""
        flat = np.asarray(genome).astype(bool).ravel()
        if flat.size != steps * layout.num_slots:
            raise ScheduleFormatError(
                f"genome has {flat.size} bits, expected steps*slots = {steps}*{layout.num_slots}"
            )
        return cls(layout, flat.reshape(steps, layout.num_slots), ScheduleMetadata(name=name))

    def with_metadata(self, **changes: Any) -> Schedule:
        meta = self.metadata
        fields = {
            "name": meta.name,
            "attributes": meta.attributes,
            "config": meta.config,
            "metrics": meta.metrics,
            "declared_steps": meta.declared_steps,
        }
        fields.update(changes)
        return Schedule(
            self.layout, self._bits, ScheduleMetadata(**fields), self.custom_attention
        )

    # views --------------------------------------------------------------------------------
    @property
    def bits(self) -> np.ndarray:
        """Read-only ``[steps, slots]`` boolean array as given (``True`` = recompute)."""
        return self._bits

    @property
    def steps(self) -> int:
        return int(self._bits.shape[0])

    @property
    def num_slots(self) -> int:
        return int(self._bits.shape[1])

    def effective(self) -> np.ndarray:
        """What actually runs: the bits with step 0 forced to recompute, and the first step of
        each expert of a two-expert model (Wan 2.2), whose caches are empty there."""
        eff = self._bits.copy()
        eff[0, :] = True
        if self.layout.family.expert_steps is not None:
            eff[list(self.layout.family.expert_starts(self.steps)), :] = True
        return eff

    def genome(self) -> np.ndarray:
        """Flat boolean vector, step-major, slots in the layout's order (never JSON key order).

        A schedule with a custom attention computation (true TGATE) is not a boolean caching
        schedule and has no genome: it can be run, costed and compared, not searched over.
        """
        if self.custom_attention is not None:
            raise ConfigError(
                f"schedule {self.metadata.name!r} is {self.custom_attention.describe()}: it "
                "averages cross-attention and drops guidance, which no genome can express, so it "
                "cannot be a member of a search population; use it as a baseline "
                "(ecad generate / ecad bench), or seed the search with tgate_without_ca_avg "
                "(the same booleans with plain caching)"
            )
        return self._bits.reshape(-1).copy()

    def reused_slots(self) -> np.ndarray:
        """Indices of the slots the schedule reuses at least once (after step 0)."""
        return np.flatnonzero(~self.effective().all(axis=0))

    def reuse_fraction(self) -> float:
        """Fraction of (step, slot) cells that reuse a cached output (step 0 counts as computed)."""
        return float((~self.effective()).mean())

    def digest(self) -> str:
        """Content digest of (layout, bits): equal schedules have equal digests, whatever their
        name or metrics."""
        if self._digest is None:
            payload = {
                "family": self.layout.family_name,
                "blocks": [list(p) for p in self.layout.block_counts],
                "shape": list(self._bits.shape),
                "bits": np.packbits(self._bits.reshape(-1)).tobytes().hex(),
            }
            if self.custom_attention is not None:  # plain schedules keep their digests
                payload["custom_attention"] = self.custom_attention.to_json()
            text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
            object.__setattr__(self, "_digest", hashlib.sha256(text.encode()).hexdigest())
        return self._digest

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Schedule):
            return NotImplemented
        return (
            self.layout == other.layout
            and self.custom_attention == other.custom_attention
            and np.array_equal(self._bits, other._bits)
        )

    def __hash__(self) -> int:
        return hash(self.digest())

    def __repr__(self) -> str:
        custom = f", {self.custom_attention.describe()}" if self.custom_attention else ""
        return (
            f"Schedule({self.metadata.name!r}, {self.layout.describe()}, steps={self.steps}, "
            f"reuse={self.reuse_fraction():.1%}{custom}, digest={self.digest()[:12]})"
        )


def _check_custom(layout: ScheduleLayout, steps: int, custom: CustomAttention) -> None:
    if not layout.family.components_with_role("cross_attention"):
        raise ScheduleFormatError(
            f"{custom.describe()} needs cross-attention; {layout.family_name} has none"
        )
    if not 1 <= custom.gate_step <= steps:
        raise ScheduleFormatError(
            f"{custom.describe()}: gate_step must be in 1..{steps} for {steps} steps "
            f"({steps}: the gate never opens and the schedule runs as its boolean twin); "
            "set gate_step in every block entry's custom_compute_attn and in config.pipeline"
        )
