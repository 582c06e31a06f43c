"""Cost tables: what each schedule slot costs per denoising step, and what a schedule costs."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ecad.atomic import write_atomic
from ecad.errors import ConfigError, ScheduleMismatchError
from ecad.schedules import Schedule, ScheduleLayout

__all__ = ["COST_MODES", "CostTable"]

#: ``macs``: every matmul incl. attention; ``macs-linear``: linear/conv layers only (the
#: published ECAD numbers); ``latency``: milliseconds measured on a GPU.
COST_MODES = ("macs", "macs-linear", "latency")


@dataclass(frozen=True)
class CostTable:
    """Per-step cost of each slot, plus the per-step cost of everything outside the slots.

    A step costs ``base + sum(slot_costs[s] for slots s recomputed at that step)``; step 0
    computes every slot. Units: MACs for the ``macs*`` modes, milliseconds for ``latency``.
    """

    layout: ScheduleLayout
    mode: str
    resolution: int
    batch: int
    base: float
    slot_costs: np.ndarray
    unit: str = "MACs"
    source: str = ""
    #: Video families: the frames and width of the video the costs are for (the resolution
    #: is its height); 0 and None for images.
    frames: int = 0
    width: int | None = None

    def __post_init__(self) -> None:
        if self.mode not in COST_MODES:
            raise ConfigError(f"cost mode {self.mode!r} unknown; choose one of {COST_MODES}")
        if len(self.slot_costs) != self.layout.num_slots:
            raise ConfigError(
                f"cost table has {len(self.slot_costs)} slots, layout {self.layout.describe()} "
                f"has {self.layout.num_slots}"
            )

    def _check(self, schedule: Schedule) -> None:
        if not self.layout.is_compatible(schedule.layout):
            raise ScheduleMismatchError(
                f"cost table is for {self.layout.describe()}, schedule is for "
                f"{schedule.layout.describe()}"
            )

    def step_costs(self, schedule: Schedule) -> np.ndarray:
        """Cost of every step of ``schedule`` (``[steps]``).

        True TGATE (gate step ``m``): cross-attention runs at ``m - 1`` and never from ``m`` on,
        and from ``m`` on the transformer runs half the batch (guidance dropped), so those steps
        cost half of what their computed slots and base cost at the table's batch. With the gate
        at ``m == steps`` no step is past it: every step counts the full batch (the published
        MACs of such files do), as for the boolean twin.
        """
        self._check(schedule)
        bits = schedule.effective()
        custom = schedule.custom_attention
        if custom is not None:
            if self.mode == "latency":
                raise ConfigError(
                    f"{schedule.metadata.name!r} is {custom.describe()}: its steps after the gate "
                    "run half the batch, which a latency table measured at one batch cannot "
                    "price; use a macs mode, or time it with `ecad bench`"
                )
            roles = schedule.layout.family.components_with_role("cross_attention")
            cross = np.array([s.component in roles for s in schedule.layout.slots])
            bits[custom.gate_step - 1, cross] = True
            bits[custom.gate_step :, cross] = False
        costs = self.base + bits.astype(np.float64) @ self.slot_costs
        if custom is not None:
            costs[custom.gate_step :] /= 2
        return costs

    def schedule_cost(self, schedule: Schedule) -> float:
        return float(self.step_costs(schedule).sum())

    def full_cost(self, steps: int) -> float:
        """Cost of the no-cache schedule of ``steps`` steps."""
        return float(steps * (self.base + self.slot_costs.sum()))

    def relative_cost(self, schedule: Schedule) -> float:
        """Schedule cost / no-cache cost (1.0 = no saving)."""
        return self.schedule_cost(schedule) / self.full_cost(schedule.steps)

    def predicted_speedup(self, schedule: Schedule) -> float:
        return 1.0 / self.relative_cost(schedule)

    def component_costs(self) -> dict[str, float]:
        """Summed per-step cost of each component name over all blocks."""
        out: dict[str, float] = {}
        for slot, cost in zip(self.layout.slots, self.slot_costs):
            out[slot.component] = out.get(slot.component, 0.0) + float(cost)
        return out

    # plain-data I/O (JSON) -----------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return {
            "family": self.layout.family_name,
            "block_counts": dict(self.layout.block_counts),
            "mode": self.mode,
            "unit": self.unit,
            "resolution": self.resolution,
            "batch": self.batch,
            "base": self.base,
            "slot_costs": [float(c) for c in self.slot_costs],
            "source": self.source,
            **({"frames": self.frames, "width": self.width} if self.frames else {}),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], source: str = "<cost table>") -> CostTable:
        try:
            layout = ScheduleLayout.for_family(data["family"], data["block_counts"])
            table = cls(
                layout=layout,
                mode=data["mode"],
                resolution=int(data["resolution"]),
                batch=int(data["batch"]),
                base=float(data["base"]),
                slot_costs=np.asarray(data["slot_costs"], dtype=np.float64),
                unit=data.get("unit", "MACs"),
                source=data.get("source", source),
                frames=int(data.get("frames", 0)),
                width=None if data.get("width") is None else int(data["width"]),
            )
        except KeyError as exc:
            raise ConfigError(f"{source}: cost table lacks field {exc.args[0]!r}") from exc
        costs = np.append(table.slot_costs.reshape(-1), table.base)
        if not np.isfinite(costs).all() or (costs < 0).any() or not costs.sum() > 0:
            # a ValueError: the store's reader names the key; a file's reader says ConfigError
            raise ValueError(f"{source}: cost table costs must be finite, >= 0, not all 0")
        return table

    def save(self, path: str | os.PathLike) -> Path:
        return write_atomic(path, json.dumps(self.to_json(), indent=2))

    @classmethod
    def load(cls, path: str | os.PathLike) -> CostTable:
        p = Path(path)
        try:
            data = json.loads(p.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError(f"{p}: cannot read cost table ({exc})") from exc
        try:
            return cls.from_json(data, source=str(p))
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"{p}: not a cost table ({exc})") from exc
