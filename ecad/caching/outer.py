"""The transformer around its blocks, for regional compilation (``compile_scope="blocks"``).

In block scope each lean block is its own compiled graph and the transformer's forward runs as
it is around them. Its work before the blocks (patch embedding, timestep and caption
embeddings) and after them (the final norm and modulation, the projection, unpatchifying) then
runs op by op: at 1024 px on an H200 that is eight unfused kernels per step on the 4096-token
stream (adds, a copy to make the stream contiguous, the modulation, a layer norm; about 5 ms of
a 20-step PixArt-α call), which plain diffusers compiled whole fuses into two.

An :class:`OuterRecipe` re-states a transformer's forward as ``head`` (inputs to the blocks'
arguments), the blocks' loop and ``tail`` (the last stream to the output); block scope compiles
the head and the tail as two more graphs (once per input shape: they do not depend on the step
pattern), and the loop stays outside them, calling each block through its hook. The
re-statement must equal the model's own forward: ``tests/caching/test_outer.py`` checks it bit
for bit on the tiny real models. It stands in for the model's own forward only: where another
hook wraps the transformer (true TGATE's guidance drop), that hook and the forward under it run
as they are.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

__all__ = ["OuterRecipe", "outer_recipe_for", "run_outer"]


@dataclass(frozen=True)
class OuterRecipe:
    """A transformer's forward split around its blocks.

    Attributes:
        forward: ``forward(model, region, *args, **kwargs)`` with the model's signature after
            ``region``; it calls ``region(name, function, model, *values)`` for the parts to
            compile (``function(model, *values)``) and the blocks in between.
        supports: whether a model instance has the configuration the forward re-states.
    """

    forward: Callable[..., Any]
    supports: Callable[[torch.nn.Module], bool] = lambda model: True


def run_outer(name: str, function: Callable[..., Any], model: Any, *values: Any) -> Any:
    """The region runner of an uncompiled call: runs the part as it is."""
    return function(model, *values)


# PixArt-α/Σ --------------------------------------------------------------------------------------
def _mask_bias(mask: torch.Tensor | None, dtype: torch.dtype) -> torch.Tensor | None:
    """A 2-D keep/discard mask as an attention bias with a query dimension, as diffusers does."""
    if mask is not None and mask.ndim == 2:
        mask = ((1 - mask.to(dtype)) * -10000.0).unsqueeze(1)
    return mask


def _pixart_head(model, hidden_states, encoder_hidden_states, timestep, added_cond_kwargs,
                 attention_mask, encoder_attention_mask):
    attention_mask = _mask_bias(attention_mask, hidden_states.dtype)
    encoder_attention_mask = _mask_bias(encoder_attention_mask, hidden_states.dtype)
    batch_size = hidden_states.shape[0]
    # contiguous: the patch embedding hands the stream on transposed
    hidden_states = model.pos_embed(hidden_states).contiguous()
    timestep, embedded_timestep = model.adaln_single(
        timestep, added_cond_kwargs, batch_size=batch_size, hidden_dtype=hidden_states.dtype
    )
    if model.caption_projection is not None:
        encoder_hidden_states = model.caption_projection(encoder_hidden_states)
        encoder_hidden_states = encoder_hidden_states.view(batch_size, -1, hidden_states.shape[-1])
    return (hidden_states, encoder_hidden_states, timestep, embedded_timestep, attention_mask,
            encoder_attention_mask)


def _pixart_tail(model, hidden_states, embedded_timestep, height, width):
    table = model.scale_shift_table
    shift, scale = (table[None] + embedded_timestep[:, None].to(table.device)).chunk(2, dim=1)
    hidden_states = model.norm_out(hidden_states)
    hidden_states = hidden_states * (1 + scale.to(hidden_states.device)) + shift.to(
        hidden_states.device
    )
    hidden_states = model.proj_out(hidden_states).squeeze(1)
    p, channels = model.config.patch_size, model.out_channels
    hidden_states = hidden_states.reshape(shape=(-1, height, width, p, p, channels))
    hidden_states = torch.einsum("nhwpqc->nchpwq", hidden_states)
    return hidden_states.reshape(shape=(-1, channels, height * p, width * p))


def _pixart_forward(
    model: Any,
    region: Callable[..., Any],
    hidden_states: torch.Tensor,
    encoder_hidden_states: torch.Tensor | None = None,
    timestep: torch.Tensor | None = None,
    added_cond_kwargs: dict[str, torch.Tensor] | None = None,
    cross_attention_kwargs: dict[str, Any] | None = None,
    attention_mask: torch.Tensor | None = None,
    encoder_attention_mask: torch.Tensor | None = None,
    return_dict: bool = True,
) -> Any:
    """``PixArtTransformer2DModel.forward`` (diffusers 0.42) with its head and tail as regions."""
    if model.use_additional_conditions and added_cond_kwargs is None:
        raise ValueError(
            "`added_cond_kwargs` cannot be None when using additional conditions for "
            "`adaln_single`."
        )
    p = model.config.patch_size
    height, width = hidden_states.shape[-2] // p, hidden_states.shape[-1] // p
    hidden_states, encoder_hidden_states, timestep, embedded, mask, encoder_mask = region(
        "head", _pixart_head, model, hidden_states, encoder_hidden_states, timestep,
        added_cond_kwargs, attention_mask, encoder_attention_mask,
    )
    for block in model.transformer_blocks:
        hidden_states = block(
            hidden_states,
            attention_mask=mask,
            encoder_hidden_states=encoder_hidden_states,
            encoder_attention_mask=encoder_mask,
            timestep=timestep,
            cross_attention_kwargs=cross_attention_kwargs,
            class_labels=None,
        )
    output = region("tail", _pixart_tail, model, hidden_states, embedded, height, width)
    if not return_dict:
        return (output,)
    from diffusers.models.modeling_outputs import Transformer2DModelOutput

    return Transformer2DModelOutput(sample=output)


def _pixart_supports(model: torch.nn.Module) -> bool:
    # training with checkpointed blocks is not what the compiled engine serves
    return not getattr(model, "gradient_checkpointing", False)


_RECIPES: dict[type, OuterRecipe] = {}


def outer_recipe_for(model: torch.nn.Module) -> OuterRecipe | None:
    """The outer recipe of ``model`` (exact class match), or ``None`` if it has none or its
    configuration is not the one re-stated."""
    if not _RECIPES:
        from diffusers import PixArtTransformer2DModel

        _RECIPES[PixArtTransformer2DModel] = OuterRecipe(_pixart_forward, _pixart_supports)
    recipe = _RECIPES.get(type(model))
    return recipe if recipe is not None and recipe.supports(model) else None
