"""Initial populations: random, a heuristic mix, a directory of schedules, or another search's
front (transfer, e.g. PixArt-α -> Σ or 256 -> 1024)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from ecad.errors import ConfigError
from ecad.schedules import Schedule, ScheduleLayout, read_schedule
from ecad.schedules.heuristics import attention_every, fora, random_schedule, tgate
from ecad.search.spec import InitialPopulationSpec
from ecad.search.validation import parse_heuristic

__all__ = ["initial_genomes"]


def _heuristic(item: str, layout: ScheduleLayout, steps: int, seed: int) -> Schedule:
    try:
        name, args = parse_heuristic(item)
        if name == "fora":
            return fora(layout, steps, int(args[0]))
        if name == "attention-every":
            return attention_every(layout, steps, int(args[0]))
        if name == "tgate":
            return tgate(layout, steps, int(args[0]), int(args[1]))
        return random_schedule(layout, steps, float(args[0]), seed)
    except ConfigError as exc:
        raise ConfigError(f"initial_population.heuristics: {exc}") from exc


def _fit(schedule: Schedule, layout: ScheduleLayout, steps: int, where: str) -> np.ndarray:
    if not schedule.layout.is_compatible(layout):
        raise ConfigError(
            f"{where}: schedule layout {schedule.layout.describe()} does not match "
            f"the search's {layout.describe()}"
        )
    if schedule.steps != steps:
        raise ConfigError(f"{where}: schedule has {schedule.steps} steps, the search {steps}")
    return schedule.genome()


def initial_genomes(
    initial: InitialPopulationSpec,
    layout: ScheduleLayout,
    steps: int,
    seed: int,
    front_of: Callable[[str], Sequence[Schedule]],
) -> np.ndarray | None:
    """Seed genomes for the first generation, or ``None`` for pymoo's random sampling.

    ``front_of(search_id)`` gives another search's front schedules (transfer seeding); this
    function opens nothing itself.
    """
    kind = initial.kind
    if kind == "random":
        return None
    if kind == "heuristics":
        rows = [
            _heuristic(item, layout, steps, seed + n).genome()
            for n, item in enumerate(initial.items)
        ]
        return np.asarray(rows, dtype=bool)
    if kind == "schedules_dir":
        files = sorted(Path(str(initial.path)).glob("*.json"))
        rows = [_fit(read_schedule(f), layout, steps, str(f)) for f in files]
        return np.asarray(rows, dtype=bool)
    if kind == "from_search":
        other = str(initial.search_id)
        front = front_of(other)
        if not front:
            raise ConfigError(f"search {other} has no front yet")
        rows = [_fit(schedule, layout, steps, f"search {other}") for schedule in front]
        return np.asarray(rows, dtype=bool)
    raise ConfigError(f"initial_population: unknown kind {kind!r}")
