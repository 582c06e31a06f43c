"""Lean block forwards: the one place that knows how each diffusers block computes.

A *recipe* re-states a block's ``forward`` (same modules, same parameters, same order of
operations) against a :class:`BlockStep` that says, per component, whether it runs this step.
A component that is reused gets its cached raw output back, and the work that only fed it (its
norm and modulation) is skipped; a component whose output nobody will read (FLUX single blocks:
attention and MLP when ``proj_out`` is reused) is not computed at all. Gates and residual adds
run with the current step's modulation, with runs of adds fused into one pass
(:func:`ecad.caching.kernels.gated_sum`).

Recipes are keyed by block class; a block whose class (or configuration) has none falls back to
component hooks, which give the same outputs with less saving. The built-in forwards live in
:mod:`ecad.caching.recipes_pixart_flux` (PixArt, FLUX.1, SD3) and
:mod:`ecad.caching.recipes_flux2_qwen` (FLUX.2, Qwen-Image) and :mod:`ecad.caching.recipe_wan`
(Wan 2.1 and 2.2).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from ecad.caching.block_step import BlockStep

__all__ = ["BlockRecipe", "BlockStep", "recipe_for", "register_recipe"]


@dataclass(frozen=True)
class BlockRecipe:
    """A lean forward for one block class.

    Attributes:
        components: attribute paths of the cacheable components, in forward order.
        forward: ``forward(block, step, *args, **kwargs)`` with the block's own signature.
        supports: whether a block instance has the configuration the forward re-states.
        consumers: component whose only reader is another component (``{"attn": "proj_out"}``):
            its output is dead at a step where the reader is reused.
        reused: for blocks that return only their updated ``hidden_states``:
            ``reused(block, cached, *args, **kwargs)``, the ``(gate, value)`` terms such a block
            adds to the stream at a step where it reuses every component (``cached``: the
            component outputs by name). Lets the compiled engine add a run of such blocks in
            one pass (:mod:`ecad.caching.reuse_runs`).
    """

    components: tuple[str, ...]
    forward: Callable[..., Any]
    supports: Callable[[torch.nn.Module], bool] = lambda block: True
    consumers: Mapping[str, str] = field(default_factory=dict)
    reused: Callable[..., list] | None = None


_RECIPES: dict[type, BlockRecipe] = {}
_registered = False


def register_recipe(block_class: type, recipe: BlockRecipe) -> None:
    """Register (or replace) the lean forward of ``block_class`` (exact class match)."""
    _RECIPES[block_class] = recipe


def recipe_for(block: torch.nn.Module) -> BlockRecipe | None:
    """The recipe for ``block``, or ``None`` if its class or configuration has none."""
    _register_builtin()
    recipe = _RECIPES.get(type(block))
    if recipe is None or not recipe.supports(block):
        return None
    return recipe


def _register_builtin() -> None:
    """Register diffusers' blocks on first use (importing them at module load is slow)."""
    global _registered
    if _registered:
        return
    _registered = True
    from diffusers.models.attention import BasicTransformerBlock, JointTransformerBlock
    from diffusers.models.transformers.transformer_flux import (
        FluxSingleTransformerBlock,
        FluxTransformerBlock,
    )
    from diffusers.models.transformers.transformer_flux2 import (
        Flux2SingleTransformerBlock,
        Flux2TransformerBlock,
    )
    from diffusers.models.transformers.transformer_qwenimage import QwenImageTransformerBlock
    from diffusers.models.transformers.transformer_wan import WanTransformerBlock

    from ecad.caching.recipe_wan import _wan_forward
    from ecad.caching.recipes_flux2_qwen import (
        _flux2_double_forward,
        _flux2_single_forward,
        _qwen_forward,
        _qwen_supports,
    )
    from ecad.caching.recipes_pixart_flux import (
        _flux_double_forward,
        _flux_double_supports,
        _flux_single_forward,
        _flux_single_supports,
        _pixart_forward,
        _pixart_reused,
        _pixart_supports,
        _sd3_joint_supports,
    )

    register_recipe(WanTransformerBlock, BlockRecipe(("attn1", "attn2", "ffn"), _wan_forward))
    register_recipe(
        Flux2TransformerBlock,
        BlockRecipe(("attn", "ff", "ff_context"), _flux2_double_forward),
    )
    register_recipe(Flux2SingleTransformerBlock, BlockRecipe(("attn",), _flux2_single_forward))
    register_recipe(
        QwenImageTransformerBlock,
        BlockRecipe(("attn", "img_mlp", "txt_mlp"), _qwen_forward, _qwen_supports),
    )
    register_recipe(
        BasicTransformerBlock,
        BlockRecipe(
            ("attn1", "attn2", "ff"), _pixart_forward, _pixart_supports, reused=_pixart_reused
        ),
    )
    register_recipe(
        JointTransformerBlock,
        BlockRecipe(("attn", "ff", "ff_context"), _flux_double_forward, _sd3_joint_supports),
    )
    register_recipe(
        FluxTransformerBlock,
        BlockRecipe(("attn", "ff", "ff_context"), _flux_double_forward, _flux_double_supports),
    )
    register_recipe(
        FluxSingleTransformerBlock,
        BlockRecipe(
            ("attn", "proj_mlp", "proj_out"),
            _flux_single_forward,
            _flux_single_supports,
            consumers={"attn": "proj_out", "proj_mlp": "proj_out"},
        ),
    )
