"""The lean forward of Wan's ``WanTransformerBlock`` (Wan 2.1 and 2.2 text-to-video).

The block's own arithmetic, in its order and precisions (norms and gated adds in float32, cast
back after each add), minus the norms and modulation that only fed a reused component: at 480p a
block's three norms read and write ~14k x 1.5k float32 activations each, work that component
hooks still do when every component is reused. Its outputs equal the component engine's exactly.

The gated adds ``(h.float() + out * gate).type_as(h)`` are two passes over the stream instead
of four: the float32 sum is rounded to ``h``'s dtype as it is written (the same arithmetic, so
the same bits). On a step that reuses every component they are most of what the block costs, so
there, on CUDA, the block's three updates are one pass (``kernels.rounded_block``: each update
still rounded to ``h``'s dtype and each product before its add, the same bits again).
"""

from __future__ import annotations

from typing import Any

import torch

from ecad.caching.block_step import BlockStep
from ecad.caching.kernels import rounded_block, rounded_block_applies

_COMPONENTS = ("attn1", "attn2", "ffn")

__all__ = []  # registered by ecad.caching.recipes


def _modulation(block: Any, temb: torch.Tensor) -> tuple[torch.Tensor, ...]:
    if temb.ndim == 4:  # per-token timesteps (Wan 2.2 TI2V): [batch, tokens, 6, dim]
        parts = (block.scale_shift_table.unsqueeze(0) + temb.float()).chunk(6, dim=2)
        return tuple(p.squeeze(2) for p in parts)
    return (block.scale_shift_table + temb.float()).chunk(6, dim=1)


def _gated_add(hidden: torch.Tensor, out: torch.Tensor, gate: torch.Tensor) -> torch.Tensor:
    """``(hidden.float() + out.float() * gate).type_as(hidden)`` with ``gate`` float32."""
    product = out * gate  # float32: promoted in the multiply, no float copy of out
    grad = torch.is_grad_enabled() and (hidden.requires_grad or product.requires_grad)
    if grad or torch.compiler.is_compiling():  # no autograd graph with out=; inductor fuses
        return (hidden.float() + product).type_as(hidden)
    return torch.add(hidden, product, out=torch.empty_like(hidden))


def _wan_forward(
    block: Any,
    step: BlockStep,
    hidden_states: torch.Tensor,
    encoder_hidden_states: torch.Tensor,
    temb: torch.Tensor,
    rotary_emb: torch.Tensor,
) -> torch.Tensor:
    shift_msa, scale_msa, gate_msa, c_shift_msa, c_scale_msa, c_gate_msa = _modulation(block, temb)
    if not any(step.computes(name) for name in _COMPONENTS):
        values = tuple(step.cached(name) for name in _COMPONENTS)
        if rounded_block_applies(hidden_states, values, (gate_msa, c_gate_msa)):
            return rounded_block(hidden_states, values, (gate_msa, c_gate_msa))
    if step.computes("attn1"):
        norm = block.norm1(hidden_states.float()) * (1 + scale_msa) + shift_msa
        out = step.store("attn1", block.attn1(norm.type_as(hidden_states), None, None, rotary_emb))
    else:
        out = step.cached("attn1")
    hidden_states = _gated_add(hidden_states, out, gate_msa)

    if step.computes("attn2"):
        norm = block.norm2(hidden_states.float()).type_as(hidden_states)
        out = step.store("attn2", block.attn2(norm, encoder_hidden_states, None, None))
    else:
        out = step.cached("attn2")
    hidden_states = hidden_states + out

    if step.computes("ffn"):
        norm = block.norm3(hidden_states.float()) * (1 + c_scale_msa) + c_shift_msa
        out = step.store("ffn", block.ffn(norm.type_as(hidden_states)))
    else:
        out = step.cached("ffn")
    return _gated_add(hidden_states, out, c_gate_msa)
