"""Lean forwards of FLUX.2's and Qwen-Image's blocks (registered in
:mod:`ecad.caching.recipes`)."""

from __future__ import annotations

from typing import Any

import torch

from ecad.caching.block_step import BlockStep, Residual
from ecad.caching.kernels import gated_sum, modulated_norm


# FLUX.2: Flux2TransformerBlock (double stream) and Flux2SingleTransformerBlock (parallel) ------
def _flux2_double_forward(
    block: Any,
    step: BlockStep,
    hidden_states: torch.Tensor,
    encoder_hidden_states: torch.Tensor,
    temb_mod_img: torch.Tensor,
    temb_mod_txt: torch.Tensor,
    image_rotary_emb: Any = None,
    joint_attention_kwargs: dict[str, Any] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    (shift_msa, scale_msa, gate_msa), (shift_mlp, scale_mlp, gate_mlp) = _split3(temb_mod_img, 2)
    (c_shift_msa, c_scale_msa, c_gate_msa), (c_shift_mlp, c_scale_mlp, c_gate_mlp) = _split3(
        temb_mod_txt, 2
    )
    img = Residual(hidden_states, step.fused)
    txt = Residual(encoder_hidden_states, step.fused)
    attn = _joint_attention(
        block,
        step,
        (block.norm1, hidden_states, scale_msa, shift_msa),
        (block.norm1_context, encoder_hidden_states, c_scale_msa, c_shift_msa),
        image_rotary_emb=image_rotary_emb,
        **(joint_attention_kwargs or {}),
    )
    img.add(attn[0], gate_msa)
    txt.add(attn[1], c_gate_msa)
    _stream_mlp(step, "ff", block.ff, img, block.norm2, scale_mlp, shift_mlp, gate_mlp)
    _stream_mlp(
        step,
        "ff_context",
        block.ff_context,
        txt,
        block.norm2_context,
        c_scale_mlp,
        c_shift_mlp,
        c_gate_mlp,
    )
    encoder_hidden_states, hidden_states = txt.value(), img.value()
    if encoder_hidden_states.dtype == torch.float16:
        encoder_hidden_states = encoder_hidden_states.clip(-65504, 65504)
    return encoder_hidden_states, hidden_states


def _split3(mod: torch.Tensor, sets: int) -> tuple[tuple[torch.Tensor, ...], ...]:
    """``Flux2Modulation.split``: ``sets`` triples of (shift, scale, gate), each ``[B, 1, C]``."""
    if mod.ndim == 2:
        mod = mod.unsqueeze(1)
    params = mod.chunk(3 * sets, dim=-1)
    return tuple(params[3 * i : 3 * (i + 1)] for i in range(sets))


def _joint_attention(block: Any, step: BlockStep, img: tuple, txt: tuple, **kwargs: Any) -> Any:
    """The joint attention's output pair: computed from both streams' modulated norms (each
    ``(norm, stream, scale, shift)``), or the cached pair with no norm computed."""
    if not step.computes("attn"):
        return step.cached("attn")
    norm, c_norm = (
        modulated_norm(n, x, scale, shift, step.fused) for n, x, scale, shift in (img, txt)
    )
    outputs = block.attn(hidden_states=norm, encoder_hidden_states=c_norm, **kwargs)
    return step.store("attn", outputs)


def _stream_mlp(
    step: BlockStep,
    name: str,
    mlp: torch.nn.Module,
    stream: Residual,
    norm: torch.nn.Module,
    scale: torch.Tensor,
    shift: torch.Tensor,
    gate: torch.Tensor,
) -> None:
    """One stream's gated MLP: computed on its modulated norm, or its cached output added."""
    if step.computes(name):
        out = step.store(name, mlp(modulated_norm(norm, stream.value(), scale, shift, step.fused)))
    else:
        out = step.cached(name)
    stream.add(out, gate)


def _flux2_single_forward(
    block: Any,
    step: BlockStep,
    hidden_states: torch.Tensor,
    encoder_hidden_states: torch.Tensor | None,
    temb_mod: torch.Tensor,
    image_rotary_emb: Any = None,
    joint_attention_kwargs: dict[str, Any] | None = None,
    split_hidden_states: bool = False,
    text_seq_len: int | None = None,
) -> Any:
    if encoder_hidden_states is not None:
        text_seq_len = encoder_hidden_states.shape[1]
        hidden_states = torch.cat([encoder_hidden_states, hidden_states], dim=1)
    ((shift, scale, gate),) = _split3(temb_mod, 1)
    if step.computes("attn"):  # attention and MLP in one module: the block's whole body
        norm = modulated_norm(block.norm, hidden_states, scale, shift, step.fused)
        out = step.store(
            "attn",
            block.attn(
                hidden_states=norm,
                image_rotary_emb=image_rotary_emb,
                **(joint_attention_kwargs or {}),
            ),
        )
    else:
        out = step.cached("attn")
    hidden_states = gated_sum(hidden_states, [(gate, out)], step.fused)
    if hidden_states.dtype == torch.float16:
        hidden_states = hidden_states.clip(-65504, 65504)
    if split_hidden_states:
        return hidden_states[:, :text_seq_len], hidden_states[:, text_seq_len:]
    return hidden_states


# Qwen-Image: QwenImageTransformerBlock (dual stream) ---------------------------------------------
def _qwen_supports(block: torch.nn.Module) -> bool:
    return not block.zero_cond_t  # the edit models' per-token modulation is not re-stated


def _qwen_forward(
    block: Any,
    step: BlockStep,
    hidden_states: torch.Tensor,
    encoder_hidden_states: torch.Tensor,
    encoder_hidden_states_mask: torch.Tensor | None,
    temb: torch.Tensor,
    image_rotary_emb: Any = None,
    joint_attention_kwargs: dict[str, Any] | None = None,
    modulate_index: Any = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    img_mod1, img_mod2 = block.img_mod(temb).unsqueeze(1).chunk(2, dim=-1)
    txt_mod1, txt_mod2 = block.txt_mod(temb).unsqueeze(1).chunk(2, dim=-1)
    shift1, scale1, gate1 = img_mod1.chunk(3, dim=-1)
    shift2, scale2, gate2 = img_mod2.chunk(3, dim=-1)
    c_shift1, c_scale1, c_gate1 = txt_mod1.chunk(3, dim=-1)
    c_shift2, c_scale2, c_gate2 = txt_mod2.chunk(3, dim=-1)
    img = Residual(hidden_states, step.fused)
    txt = Residual(encoder_hidden_states, step.fused)
    attn = _joint_attention(
        block,
        step,
        (block.img_norm1, hidden_states, scale1, shift1),
        (block.txt_norm1, encoder_hidden_states, c_scale1, c_shift1),
        encoder_hidden_states_mask=encoder_hidden_states_mask,
        image_rotary_emb=image_rotary_emb,
        **(joint_attention_kwargs or {}),
    )
    img.add(attn[0], gate1)
    txt.add(attn[1], c_gate1)
    _stream_mlp(step, "img_mlp", block.img_mlp, img, block.img_norm2, scale2, shift2, gate2)
    _stream_mlp(step, "txt_mlp", block.txt_mlp, txt, block.txt_norm2, c_scale2, c_shift2, c_gate2)
    encoder_hidden_states, hidden_states = txt.value(), img.value()
    if encoder_hidden_states.dtype == torch.float16:
        encoder_hidden_states = encoder_hidden_states.clip(-65504, 65504)
    if hidden_states.dtype == torch.float16:
        hidden_states = hidden_states.clip(-65504, 65504)
    return encoder_hidden_states, hidden_states
