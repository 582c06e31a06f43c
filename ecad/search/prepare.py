"""What a new search needs beyond its spec's fields: the cost model and the initial population,
built and checked before anything is written (``ecad submit``, ``ecad search`` and
``ecad validate`` run the same checks)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ecad.cost import CostTable
from ecad.errors import ConfigError
from ecad.schedules import Schedule, ScheduleLayout
from ecad.search.nsga import distinct_seeds
from ecad.search.setting import layout_for
from ecad.search.spec import SearchSpec
from ecad.store import ObjectStore

__all__ = ["build_cost_table", "prepare_search"]


def build_cost_table(spec: SearchSpec, layout: ScheduleLayout | None = None) -> CostTable:
    """The cost model of the spec: measured latency table, or MACs of the spec's model.
    ``layout``: the spec's schedule layout if already resolved (else resolved here)."""
    layout = layout or layout_for(spec)
    if spec.cost.mode == "latency":
        table = CostTable.load(spec.cost.table)
        if not table.layout.is_compatible(layout):
            raise ConfigError(
                f"cost.table: table is for {table.layout.describe()}, the search "
                f"model is {layout.describe()}"
            )
        return table
    from ecad.cost import macs_table
    from ecad.families import get_family
    from ecad.families.loading import resolve_weights

    family = get_family(spec.family)
    config = None
    full = all(n == g.num_blocks for (_, n), g in zip(layout.block_counts, family.block_groups))
    if not full:
        config_file = Path(resolve_weights(family, spec.weights)) / "transformer" / "config.json"
        if not config_file.is_file():
            raise ConfigError(f"cannot size the cost model: {config_file} not found")
        config = {
            k: v for k, v in json.loads(config_file.read_text()).items() if not k.startswith("_")
        }
    return macs_table(
        family,
        spec.resolution,
        spec.cost.batch,
        spec.cost.mode,
        text_tokens=spec.cost.options.get("text_tokens"),
        transformer_config=config,
    )


def prepare_search(
    spec: SearchSpec,
    store_of: Callable[[], ObjectStore],
    layout: ScheduleLayout | None = None,
) -> tuple[CostTable, np.ndarray | None]:
    """The checks a new search needs beyond its spec's fields, writing nothing: the cost model
    and the initial population, both built. ``store_of()`` is called only for transfer seeding
    (``from_search``: the other search's front). ``layout``: the spec's schedule layout if
    already resolved (it reads the weights' config for local weights: once per search)."""
    from ecad.scoring.registry import check_installed
    from ecad.search.initial import initial_genomes
    from ecad.search.session import SearchSession
    from ecad.search.setting import scorer_options

    def front_of(other: str, generations: tuple[int, int] | None) -> list[Schedule]:
        session = SearchSession.open(store_of(), other)
        if generations is None:
            return [m.schedule for m in session.front()]
        return [m.schedule for m in session.fronts_between(*generations)]

    check_installed(scorer_options(spec.quality)[0])  # before any work: one line, not N failures
    layout = layout or layout_for(spec)
    table = build_cost_table(spec, layout)
    initial = initial_genomes(spec.initial_population, layout, spec.steps, spec.seed, front_of)
    if initial is not None:  # more distinct seeds than population: an error unless truncate
        distinct_seeds(initial, spec.population, spec.initial_population.truncate)
    return table, initial
