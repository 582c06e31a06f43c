"""Cost tables from ``torch.utils.flop_counter.FlopCounterMode`` on the full-size architecture
built on the meta device: no weights are allocated, so even FLUX takes about a second."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from ecad.cost.table import CostTable
from ecad.errors import ConfigError
from ecad.families import ModelFamily, get_family
from ecad.schedules import ScheduleLayout

__all__ = ["LINEAR_OPS", "macs_table"]

#: Operators counted by the ``macs-linear`` mode: linear layers (addmm/mm) and the patch-embedding
#: convolution, i.e. everything but the attention matmuls. This reproduces the published ECAD MACs.
LINEAR_OPS = frozenset({"aten.addmm", "aten.mm", "aten.convolution", "aten._convolution"})


def _micro_conditioned(family: ModelFamily, config: dict[str, Any]) -> bool:
    """PixArt-α's pipeline passes resolution and aspect-ratio micro-conditions when the
    transformer's ``sample_size`` is 128 (the 1024-px model), whose config leaves
    ``use_additional_conditions`` to that same rule; their embedders then run every step."""
    return family.pipeline_class == "PixArtAlphaPipeline" and config.get("sample_size") == 128


def _meta_inputs(
    family: ModelFamily, cfg: dict[str, Any], resolution: int, batch: int, text: int
) -> dict[str, Any]:
    """The family record's own forward inputs (its calling convention is data of the record)."""
    if family.transformer_inputs is None:
        raise ConfigError(f"family {family.name} has no transformer_inputs: no cost table")
    return family.transformer_inputs(cfg, resolution // family.vae_scale_factor, batch, text)


def _total(counts: dict[Any, int], linear_only: bool) -> float:
    return float(sum(v for op, v in counts.items() if not linear_only or str(op) in LINEAR_OPS))


@lru_cache(maxsize=32)
def _table(
    family_name: str, resolution: int, batch: int, mode: str, text: int, config_json: str
) -> CostTable:
    import diffusers

    family = get_family(family_name)
    if resolution <= 0 or resolution % family.resolution_multiple():
        raise ConfigError(
            f"resolution {resolution} must be a positive multiple of {family.resolution_multiple()}"
            f" for {family.name}"
        )
    if batch < 1:
        raise ConfigError(f"batch must be >= 1, got {batch}")
    config = json.loads(config_json)
    if family.kind == "pixart":
        config["sample_size"] = resolution // family.vae_scale_factor
        if _micro_conditioned(family, config):
            config["use_additional_conditions"] = True
    model_cls = getattr(diffusers, family.transformer_class)
    with torch.device("meta"):
        model = model_cls.from_config(config)
        inputs = _meta_inputs(family, dict(model.config), resolution, batch, text)
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(**inputs)
    counts = counter.get_flop_counts()
    root = type(model).__name__
    linear_only = mode == "macs-linear"
    layout = ScheduleLayout.for_model(family, model)
    slot_costs = np.zeros(layout.num_slots)
    groups = {g.name: g for g in family.block_groups}
    for i, slot in enumerate(layout.slots):
        group = groups[slot.group]
        fqn = f"{root}.{group.module_list}.{slot.block}.{group.component_paths[slot.component]}"
        slot_costs[i] = _total(counts.get(fqn, {}), linear_only) / 2  # FLOPs -> MACs
    total = _total(counts["Global"], linear_only) / 2
    return CostTable(
        layout=layout,
        mode=mode,
        resolution=resolution,
        batch=batch,
        base=total - float(slot_costs.sum()),
        slot_costs=slot_costs,
        unit="MACs",
        source=(
            f"FlopCounterMode on meta {family.transformer_class}, {text} text tokens, "
            f"torch {torch.__version__}"
        ),
    )


def macs_table(
    family: ModelFamily | str,
    resolution: int,
    batch: int = 2,
    mode: str = "macs",
    text_tokens: int | None = None,
    transformer_config: dict[str, Any] | None = None,
) -> CostTable:
    """MACs per slot and step for the full-size ``family`` transformer.

    ``batch`` is the number of rows the transformer processes per call: PixArt runs classifier-free
    guidance as one batch, so one image is batch 2 (the published ECAD files use batch 2).
    ``mode`` is ``"macs"`` (attention included) or ``"macs-linear"`` (published-compatible).
    ``text_tokens`` defaults to the family's ``max_sequence_length`` (the published PixArt-Σ
    files were counted with 120 tokens, PixArt-α's length, where the Σ pipeline uses 300).
    ``transformer_config`` replaces the full-size config (e.g. a tiny model's config.json); the
    table's layout then has that model's block counts.
    """
    if mode not in ("macs", "macs-linear"):
        raise ConfigError(f"macs_table mode must be 'macs' or 'macs-linear', got {mode!r}")
    fam = get_family(family)
    text = int(text_tokens or fam.max_sequence_length)
    if text < 1:
        raise ConfigError(f"text_tokens must be >= 1, got {text_tokens}")
    config = dict(transformer_config or fam.transformer_config)
    key = json.dumps(config, sort_keys=True)
    return _table(fam.name, int(resolution), int(batch), mode, text, key)
