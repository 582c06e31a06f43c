"""Check a schedule file's published ``metrics.total_macs`` against the cost model.

The reference counted linear-layer MACs at batch 2. Some published files carry a ``config``
that is not what they were counted at (the paper's PixArt-α seed population has a stale 1024-px
config with metrics counted at 256 px), PixArt-Σ files were counted with PixArt-α's 120 text
tokens, and one FLUX file lists 50 steps but declares (and was counted over) 8. This module
finds the counting that reproduces the published total, so such a file is reported, not trusted.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from ecad.schedules import Schedule

__all__ = ["PublishedCheck", "check_published"]

RESOLUTIONS = (256, 512, 1024)
PUBLISHED_TEXT_TOKENS = 120  # PixArt-α's length; the published Σ files used it too


@dataclass(frozen=True)
class PublishedCheck:
    """The published total and the counting that reproduces it (``None`` fields: none does).

    ``config_resolution`` is the file's ``config.height``; ``stale_config`` is true when the
    total is reproduced at another resolution than that.
    """

    total: float
    reproduced: bool
    resolution: int | None = None
    text_tokens: int | None = None
    steps: int | None = None
    config_resolution: int | None = None

    @property
    def stale_config(self) -> bool:
        return (
            self.reproduced
            and self.config_resolution is not None
            and self.resolution != self.config_resolution
        )

    @property
    def countable(self) -> bool:
        """Whether the published total can be a MACs count at all (finite, positive)."""
        return math.isfinite(self.total) and self.total > 0

    def to_json(self) -> dict[str, Any]:
        total = self.total if math.isfinite(self.total) else str(self.total)  # JSON has no inf
        return {**asdict(self), "total": total, "stale_config": self.stale_config}

    def describe(self) -> str:
        if not self.countable:
            return f"{self.total} is not a MACs count (a finite positive number): not checked"
        if not self.reproduced:
            return (
                f"not reproduced by linear MACs at batch 2 at {list(RESOLUTIONS)} px: the file "
                "was counted some other way"
            )
        steps = f", first {self.steps} steps (as declared)" if self.steps else ""
        text = f", {self.text_tokens} text tokens" if self.text_tokens else ""
        note = (
            f"; its config says {self.config_resolution}px: stale, pass --resolution "
            f"{self.resolution}"
            if self.stale_config
            else ""
        )
        return f"reproduced at {self.resolution}px, batch 2{text}{steps}{note}"


def check_published(schedule: Schedule, rel: float = 1e-6) -> PublishedCheck | None:
    """The counting that reproduces ``schedule``'s ``metrics.total_macs``, or ``None`` if the
    file has no such metric (or its layout is not full size)."""
    metrics = schedule.metadata.metrics or {}
    total = metrics.get("total_macs")
    layout, family = schedule.layout, schedule.layout.family
    full = all(n == g.num_blocks for (_, n), g in zip(layout.block_counts, family.block_groups))
    if not isinstance(total, (int, float)) or not full:
        return None
    from ecad.cost.flops import macs_table  # counting needs torch; a file without metrics not
    config = schedule.metadata.config or {}
    if not math.isfinite(total) or total <= 0:  # inf - inf is nan, |x - inf| <= inf is true
        return PublishedCheck(float(total), False, config_resolution=config.get("height")
                              if isinstance(config.get("height"), int) else None)
    declared = config.get("height") if isinstance(config.get("height"), int) else None
    resolutions = dict.fromkeys([r for r in (declared, *RESOLUTIONS) if r])
    tokens = dict.fromkeys([None, PUBLISHED_TEXT_TOKENS if family.kind == "pixart" else None])
    steps = dict.fromkeys([None, schedule.metadata.declared_steps])
    for res in resolutions:
        for text in tokens:
            table = macs_table(family, res, 2, "macs-linear", text)
            costs = table.step_costs(schedule)
            for n in steps:
                got = float(costs[:n].sum()) if n else float(costs.sum())
                if abs(got - total) <= rel * abs(total):
                    return PublishedCheck(float(total), True, res, text, n, declared)
    return PublishedCheck(float(total), False, config_resolution=declared)
