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

__all__ = ["BlockRecipe", "BlockStep", "WhollyReused", "recipe_for", "register_recipe"]


@dataclass(frozen=True)
class BlockRecipe:
    """A lean forward for one block class.

    Attributes:
        components: attribute paths of the cacheable components, in forward order.
        forward: ``forward(block, step, *args, **kwargs)`` with the block's own signature.
        supports: whether a block instance has the configuration the forward re-states.
        consumers: component whose only reader is another component (``{"attn": "proj_out"}``):
            its output is dead at a step where the reader is reused.
        reused: what the block adds to its residual streams at a step where it reuses every
            component (:class:`WhollyReused`); lets the compiled engine add a run of such blocks
            in one pass (:mod:`ecad.caching.reuse_runs`). ``None``: never in a run.
    """

    components: tuple[str, ...]
    forward: Callable[..., Any]
    supports: Callable[[torch.nn.Module], bool] = lambda block: True
    consumers: Mapping[str, str] = field(default_factory=dict)
    reused: WhollyReused | None = None


@dataclass(frozen=True)
class WhollyReused:
    """How a block that reuses every component updates its residual streams.

    Attributes:
        streams: the forward's arguments that are residual streams, in the order the block
            returns them (one: the block returns that tensor; several: a tuple).
        terms: ``terms(block, cached, *args, **kwargs)``: per stream, the ``(gate, value)``
            terms the block adds to it (``cached``: the components' outputs by name).
        clip_half: float16 results are clipped to float16's range, as the block does (FLUX).
    """

    streams: tuple[str, ...]
    terms: Callable[..., tuple[list, ...]]
    clip_half: bool = False

    def stream_places(self, forward: Callable[..., Any], args: tuple) -> tuple[int | str, ...]:
        """Where a call of ``forward`` (a recipe's: ``block, step`` first) with ``args``
        positional arguments has each stream: an index into ``args``, else a keyword."""
        code = forward.__code__  # not inspect: this also runs inside graphs dynamo traces
        names = list(code.co_varnames[2 : min(code.co_argcount, 2 + len(args))])
        return tuple(names.index(n) if n in names else n for n in self.streams)

    def stream_values(self, forward: Callable[..., Any], args: tuple, kwargs: dict) -> tuple:
        """The streams a call of ``forward`` got."""
        return streams_at(self.stream_places(forward, args), args, kwargs)

    def passthrough(self, forward: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
        """What a block whose updates a run's first block made returns: its streams as given."""
        values = self.stream_values(forward, args, kwargs)
        return values[0] if len(values) == 1 else values

    def output(self, values: tuple) -> Any:
        if self.clip_half:
            values = tuple(
                v.clip(-65504, 65504) if v.dtype == torch.float16 else v for v in values
            )
        return values[0] if len(values) == 1 else values


def streams_at(places: tuple[int | str, ...], args: tuple, kwargs: dict) -> tuple:
    return tuple(args[p] if isinstance(p, int) else kwargs[p] for p in places)


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
        _flux_double_reused,
        _flux_double_supports,
        _flux_single_forward,
        _flux_single_reused,
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
    one_stream = WhollyReused(("hidden_states",), _pixart_reused)
    register_recipe(
        BasicTransformerBlock,
        BlockRecipe(("attn1", "attn2", "ff"), _pixart_forward, _pixart_supports, reused=one_stream),
    )
    register_recipe(
        JointTransformerBlock,
        BlockRecipe(("attn", "ff", "ff_context"), _flux_double_forward, _sd3_joint_supports),
    )
    # Not SD3's joint blocks: its skip-layer guidance leaves blocks out of the loop, so a run's
    # first block cannot count on the others being called.
    flux_streams = ("encoder_hidden_states", "hidden_states")
    register_recipe(
        FluxTransformerBlock,
        BlockRecipe(
            ("attn", "ff", "ff_context"),
            _flux_double_forward,
            _flux_double_supports,
            reused=WhollyReused(flux_streams, _flux_double_reused, clip_half=True),
        ),
    )
    register_recipe(
        FluxSingleTransformerBlock,
        BlockRecipe(
            ("attn", "proj_mlp", "proj_out"),
            _flux_single_forward,
            _flux_single_supports,
            consumers={"attn": "proj_out", "proj_mlp": "proj_out"},
            reused=WhollyReused(flux_streams, _flux_single_reused, clip_half=True),
        ),
    )
