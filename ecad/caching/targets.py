"""Where a schedule's slots live inside a model: the one place that knows module paths.

Hooks stay generic; this module resolves ``(pipeline or transformer, layout)`` to the transformer,
the sampler that drives it and the component module of every slot, and fails loudly when the
model's block counts are not the ones the schedule was made for.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from ecad.errors import ScheduleMismatchError
from ecad.schedules import ScheduleLayout
from ecad.schedules.layout import blocks_phrase

__all__ = ["SlotTarget", "slot_targets", "split_target"]


def split_target(pipe_or_transformer: Any) -> tuple[torch.nn.Module, Any | None]:
    """Return ``(transformer, pipeline_or_None)`` for a diffusers pipeline or a bare transformer."""
    if isinstance(pipe_or_transformer, torch.nn.Module):
        return pipe_or_transformer, None
    transformer = getattr(pipe_or_transformer, "transformer", None)
    if not isinstance(transformer, torch.nn.Module):
        raise ScheduleMismatchError(
            f"expected a diffusers pipeline with a .transformer or a transformer module, got "
            f"{type(pipe_or_transformer).__name__}"
        )
    return transformer, pipe_or_transformer


@dataclass(frozen=True)
class SlotTarget:
    """Where one slot lives: its block, the component's attribute path in it, and the module
    (``None`` for an optional component the block lacks, e.g. SD3's last ``ff_context``)."""

    block: torch.nn.Module
    path: str
    module: torch.nn.Module | None


def slot_targets(transformer: torch.nn.Module, layout: ScheduleLayout) -> list[SlotTarget]:
    """Block, component path and component module of every slot of ``layout``, in slot order."""
    family = layout.family
    cls = type(transformer).__name__
    if cls != family.transformer_class:
        raise ScheduleMismatchError(
            f"schedule is for {family.name} ({family.transformer_class}) but the model is a {cls}"
        )
    blocks_of: dict[str, Any] = {}
    for group in family.block_groups:
        blocks = getattr(transformer, group.module_list, None)
        expected = layout.num_blocks(group.name)
        if blocks is None or len(blocks) != expected:
            found = "none" if blocks is None else len(blocks)
            raise ScheduleMismatchError(
                f"schedule has {blocks_phrase(group.name, expected)} but "
                f"{cls}.{group.module_list} has {found}; use a schedule made for this "
                "model's layout"
            )
        blocks_of[group.name] = (group, blocks)
    targets: list[SlotTarget] = []
    for slot in layout.slots:
        group, blocks = blocks_of[slot.group]
        block = module = blocks[slot.block]
        path = group.component_paths[slot.component]
        for attr in path.split("."):
            module = getattr(module, attr, None)
            if module is None and slot.component in group.optional:
                break
            if module is None:
                raise ScheduleMismatchError(
                    f"{cls} block {slot.block_key} has no component module "
                    f"{path!r} for {slot.component!r}"
                )
        targets.append(SlotTarget(block, path, module))
    return targets
