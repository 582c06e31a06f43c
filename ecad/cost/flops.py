"""Cost tables from ``torch.utils.flop_counter.FlopCounterMode`` on the full-size architecture
built on the meta device: no weights are allocated, so even FLUX takes about a second."""

from __future__ import annotations

import json
from contextlib import nullcontext
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
    family: ModelFamily,
    cfg: dict[str, Any],
    resolution: int,
    batch: int,
    text: int,
    video: tuple[int, int] = (0, 0),
) -> dict[str, Any]:
    """The forward inputs of one cost-table call: a derived family's record sizes them as
    symbolic shapes; a built-in family's record has its own calling convention as a function."""
    latent = resolution // family.vae_scale_factor
    if family.cost_inputs:  # a derived family's record sizes its inputs
        from ecad.families.inputs import input_tensors, symbol_values

        symbols = symbol_values(batch, text, latent)
        device = torch.get_default_device()
        return input_tensors(family.cost_inputs, cfg, symbols, device)
    if family.transformer_inputs is None:
        raise ConfigError(f"family {family.name} has no transformer_inputs: no cost table")
    if family.is_video:  # video: (frames, width); the resolution is the height
        frames, width = video
        return family.transformer_inputs(
            cfg, latent, batch, text, frames=frames, latent_width=width // family.vae_scale_factor
        )
    return family.transformer_inputs(cfg, latent, batch, text)


def _total(counts: dict[Any, int], linear_only: bool) -> float:
    return float(sum(v for op, v in counts.items() if not linear_only or str(op) in LINEAR_OPS))


@lru_cache(maxsize=32)
def _table(
    family_name: str,
    resolution: int,
    batch: int,
    mode: str,
    text: int,
    config_json: str,
    video: tuple[int, int] = (0, 0),
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
    layout = ScheduleLayout.for_family(
        family, {g.name: int(config.get(g.config_key, g.num_blocks)) for g in family.block_groups}
    )
    if family.cost_device == "cpu":  # one block per group, on the CPU: see _one_block_counts
        counts, root, total_extra = _one_block_counts(family, model_cls, config, layout,
                                                      resolution, batch, text, mode, video)
    else:
        with torch.device("meta"):
            model = model_cls.from_config(config)
            inputs = _meta_inputs(family, dict(model.config), resolution, batch, text, video)
        layout = ScheduleLayout.for_model(family, model)
        counts, root, total_extra = _counts(model, inputs), type(model).__name__, 0.0
    linear_only = mode == "macs-linear"
    slot_costs = np.zeros(layout.num_slots)
    groups = {g.name: g for g in family.block_groups}
    for i, slot in enumerate(layout.slots):
        group = groups[slot.group]
        block = 0 if family.cost_device == "cpu" else slot.block
        fqn = f"{root}.{group.module_list}.{block}.{group.component_paths[slot.component]}"
        slot_costs[i] = _total(counts.get(fqn, {}), linear_only) / 2  # FLOPs -> MACs
    total = _total(counts["Global"], linear_only) / 2 + total_extra
    return CostTable(
        layout=layout,
        mode=mode,
        resolution=resolution,
        batch=batch,
        base=total - float(slot_costs.sum()),
        slot_costs=slot_costs,
        unit="MACs",
        frames=video[0],
        width=video[1] or None,
        source=(
            f"FlopCounterMode on {family.cost_device} {family.transformer_class}, {text} text "
            "tokens, "
            f"torch {torch.__version__}"
        ),
    )


def _counts(model: torch.nn.Module, inputs: dict[str, Any]) -> dict[str, Any]:
    from torch.nn.attention import SDPBackend, sdpa_kernel

    counter = FlopCounterMode(display=False)
    # The math backend: the CPU's fused attention kernels are not counted by FlopCounterMode.
    backend = SDPBackend.MATH if next(model.parameters()).device.type == "cpu" else None
    with counter, torch.no_grad(), sdpa_kernel(backend) if backend else nullcontext():
        model(**inputs)
    return counter.get_flop_counts()



def _one_block_counts(family, model_cls, config, layout, resolution, batch, text, mode, video):
    """Counts of a copy with one block per group, run on the CPU (for a forward that reads
    tensor values, which the meta device cannot run), and the MACs of the blocks it lacks:
    the blocks of a group are identical, so each costs what its first one does."""
    small = dict(config)
    for group in family.block_groups:
        if group.config_key in small:
            small[group.config_key] = 1
    torch.manual_seed(0)
    model = model_cls.from_config(small).eval()
    inputs = _meta_inputs(family, dict(model.config), resolution, batch, text, video)
    counts = _counts(model, inputs)
    root = type(model).__name__
    extra = 0.0
    for group in family.block_groups:
        missing = layout.num_blocks(group.name) - len(getattr(model, group.module_list))
        block = counts.get(f"{root}.{group.module_list}.0", {})
        extra += missing * _total(block, mode == "macs-linear") / 2
    return counts, root, extra


def macs_table(
    family: ModelFamily | str,
    resolution: int,
    batch: int = 2,
    mode: str = "macs",
    text_tokens: int | None = None,
    transformer_config: dict[str, Any] | None = None,
    frames: int | None = None,
    width: int | None = None,
) -> CostTable:
    """MACs per slot and step for the full-size ``family`` transformer.

    ``batch`` is the number of rows the transformer processes per call: PixArt runs classifier-free
    guidance as one batch, so one image is batch 2 (the published ECAD files use batch 2).
    ``mode`` is ``"macs"`` (attention included) or ``"macs-linear"`` (published-compatible).
    ``text_tokens`` defaults to the family's ``max_sequence_length`` (the published PixArt-Σ
    files were counted with 120 tokens, PixArt-α's length, where the Σ pipeline uses 300).
    ``transformer_config`` replaces the full-size config (e.g. a tiny model's config.json); the
    table's layout then has that model's block counts.
    Video families: ``resolution`` is the height; ``frames`` and ``width`` default to the
    family's (tokens grow with both: the cost is per video of that size).
    """
    if mode not in ("macs", "macs-linear"):
        raise ConfigError(f"macs_table mode must be 'macs' or 'macs-linear', got {mode!r}")
    fam = get_family(family)
    text = int(text_tokens or fam.max_sequence_length)
    if text < 1:
        raise ConfigError(f"text_tokens must be >= 1, got {text_tokens}")
    config = dict(transformer_config or fam.transformer_config)
    key = json.dumps(config, sort_keys=True)
    video = (0, 0)
    if fam.is_video:
        frames = int(frames or fam.default_frames)
        width = int(width or fam.width_for(int(resolution)))
        if frames < 1 or width <= 0 or width % fam.resolution_multiple():
            raise ConfigError(f"frames {frames} must be >= 1 and width {width} a positive "
                              f"multiple of {fam.resolution_multiple()} for {fam.name}")
        video = (frames, width)
    return _table(fam.name, int(resolution), int(batch), mode, text, key, video)
