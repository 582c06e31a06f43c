"""The cost model of a search's spec, built and checked before anything is written
(:func:`ecad.search.session.prepare_search` runs it with the other checks of a new search)."""

from __future__ import annotations

import json
from pathlib import Path

from ecad.cost import CostTable
from ecad.errors import ConfigError
from ecad.schedules import ScheduleLayout
from ecad.search.setting import layout_for
from ecad.search.spec import SearchSpec

__all__ = ["build_cost_table"]


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
        frames=spec.video.frames or None,  # videos: cost per video of the spec's size
        width=spec.video.width,
    )
