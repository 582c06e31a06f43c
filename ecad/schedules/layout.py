"""The column layout of a schedule: which (block, component) slot each column is."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from ecad.errors import ScheduleMismatchError
from ecad.families import ModelFamily, Slot, get_family

__all__ = ["ScheduleLayout", "blocks_phrase"]


@dataclass(frozen=True)
class ScheduleLayout:
    """A family plus the number of blocks in each of its groups.

    Full-size models use the family's block counts; tiny test models have fewer blocks but the
    same components, so the layout records the counts explicitly.
    """

    family_name: str
    block_counts: tuple[tuple[str, int], ...]

    @classmethod
    def for_family(
        cls, family: ModelFamily | str, block_counts: Mapping[str, int] | None = None
    ) -> ScheduleLayout:
        fam = get_family(family) if isinstance(family, str) else family
        counts = dict(block_counts or {})
        unknown = set(counts) - {g.name for g in fam.block_groups}
        if unknown:
            raise ScheduleMismatchError(
                f"family {fam.name!r} has no block group {sorted(unknown)}; "
                f"groups are {[g.name for g in fam.block_groups]}"
            )
        return cls(
            fam.name,
            tuple((g.name, int(counts.get(g.name, g.num_blocks))) for g in fam.block_groups),
        )

    @classmethod
    def for_model(cls, family: ModelFamily | str, transformer: Any) -> ScheduleLayout:
        """The layout of a loaded (or meta-device) transformer: its own block counts."""
        fam = get_family(family) if isinstance(family, str) else family
        counts = {g.name: len(getattr(transformer, g.module_list)) for g in fam.block_groups}
        return cls.for_family(fam, counts)

    @property
    def family(self) -> ModelFamily:
        return get_family(self.family_name)

    @cached_property
    def slots(self) -> tuple[Slot, ...]:
        return self.family.slots(dict(self.block_counts))

    @property
    def num_slots(self) -> int:
        return len(self.slots)

    def num_blocks(self, group: str) -> int:
        return dict(self.block_counts)[group]

    def is_compatible(self, other: ScheduleLayout) -> bool:
        """Same slots in the same order (PixArt-α and PixArt-Σ schedules transfer to each other)."""
        return self.slots == other.slots

    def expert_of_steps(self, steps: int) -> tuple[int, ...]:
        """Which of the family's experts runs each step (all 0 for one-transformer models)."""
        return self.family.expert_of_steps(steps)

    def describe(self) -> str:
        parts = [blocks_phrase(group, count) for group, count in self.block_counts]
        return f"{self.family_name} ({', '.join(parts)})"


def blocks_phrase(group: str, count: int) -> str:
    """``28 blocks`` for PixArt's one group, ``19 double blocks`` for a named group."""
    return f"{count} blocks" if group == "blocks" else f"{count} {group} blocks"
