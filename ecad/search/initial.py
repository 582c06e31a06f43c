"""Initial populations: random, a heuristic mix, the paper's published seed population, a
directory of schedules, or another search's front (transfer, e.g. PixArt-α -> Σ or 256 -> 1024).
A true-TGATE schedule is refused wherever it appears: it has no genome."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from ecad.errors import ConfigError
from ecad.schedules import Schedule, ScheduleLayout, read_schedule
from ecad.schedules.catalog import HeuristicCall
from ecad.schedules.paper import paper_seed_population
from ecad.search.spec import InitialPopulationSpec

__all__ = ["initial_genomes"]


def _fit(schedule: Schedule, layout: ScheduleLayout, steps: int, where: str) -> np.ndarray:
    if not schedule.layout.is_compatible(layout):
        raise ConfigError(
            f"{where}: schedule layout {schedule.layout.describe()} does not match "
            f"the search's {layout.describe()}"
        )
    if schedule.steps != steps:
        raise ConfigError(f"{where}: schedule has {schedule.steps} steps, the search {steps}")
    if schedule.custom_attention is not None:
        raise ConfigError(
            f"{where}: {schedule.metadata.name!r} is {schedule.custom_attention.describe()}, "
            "which cannot be a member of a search population (no genome expresses averaged "
            "cross-attention or dropped guidance); remove it, or use tgate_without_ca_avg "
            "with the same gate step and interval"
        )
    return schedule.genome()


def initial_genomes(
    initial: InitialPopulationSpec,
    layout: ScheduleLayout,
    steps: int,
    seed: int,
    front_of: Callable[[str, tuple[int, int] | None], Sequence[Schedule]],
) -> np.ndarray | None:
    """Seed genomes for the first generation, or ``None`` for pymoo's random sampling.

    ``front_of(search_id, generations)`` gives another search's front schedules (transfer
    seeding): its latest front, or with ``generations = (first, last)`` the union of its fronts
    in those generations (repeats are dropped later, with the population check); this function
    opens nothing itself.
    """
    kind = initial.kind
    if kind == "random":
        return None
    if kind == "heuristics":
        rows = [
            _fit(
                HeuristicCall.parse(item).build(layout, steps, seed + n),
                layout,
                steps,
                f"initial_population.heuristics[{n}] {item!r}",
            )
            for n, item in enumerate(initial.items)
        ]
        return np.asarray(rows, dtype=bool)
    if kind == "paper":
        rows = [
            _fit(s, layout, steps, f"paper seed {s.metadata.name}")
            for s in paper_seed_population(layout, steps)
        ]
        return np.asarray(rows, dtype=bool)
    if kind == "schedules_dir":
        files = sorted(Path(str(initial.path)).glob("*.json"))
        rows = [_fit(read_schedule(f), layout, steps, str(f)) for f in files]
        return np.asarray(rows, dtype=bool)
    if kind == "from_search":
        other = str(initial.search_id)
        front = front_of(other, initial.generations)
        if not front:
            raise ConfigError(f"search {other} has no front yet")
        rows = [_fit(schedule, layout, steps, f"search {other}") for schedule in front]
        return np.asarray(rows, dtype=bool)
    raise ConfigError(f"initial_population: unknown kind {kind!r}")
