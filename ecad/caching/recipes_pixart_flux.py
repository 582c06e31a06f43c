"""Lean forwards of PixArt-α/Σ's, FLUX.1's and SD3's blocks (registered in
:mod:`ecad.caching.recipes`)."""

from __future__ import annotations

from typing import Any

import torch

from ecad.caching.block_step import BlockStep, Residual
from ecad.caching.kernels import gated_sum, modulated_norm
from ecad.errors import ScheduleMismatchError


# PixArt-α/Σ: BasicTransformerBlock with norm_type="ada_norm_single" ------------------------------
def _pixart_supports(block: torch.nn.Module) -> bool:
    return (
        block.norm_type == "ada_norm_single"
        and block.pos_embed is None
        and block.attn2 is not None
        and not block.only_cross_attention
        and block._chunk_size is None
    )


def _pixart_forward(
    block: Any,
    step: BlockStep,
    hidden_states: torch.Tensor,
    attention_mask: torch.Tensor | None = None,
    encoder_hidden_states: torch.Tensor | None = None,
    encoder_attention_mask: torch.Tensor | None = None,
    timestep: torch.Tensor | None = None,
    cross_attention_kwargs: dict[str, Any] | None = None,
    class_labels: torch.Tensor | None = None,
    added_cond_kwargs: dict[str, Any] | None = None,
) -> torch.Tensor:
    kwargs = dict(cross_attention_kwargs or {})
    if "gligen" in kwargs:
        raise ScheduleMismatchError("GLIGEN inputs are not supported by the caching engine")
    shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp = _pixart_modulation(
        block, hidden_states, timestep
    )
    stream = Residual(hidden_states, step.fused)

    if step.computes("attn1"):
        norm = modulated_norm(block.norm1, stream.value(), scale_msa, shift_msa, step.fused)
        out = step.store("attn1", block.attn1(norm, attention_mask=attention_mask, **kwargs))
    else:
        out = step.cached("attn1")
    stream.add(out, gate_msa)

    if step.computes("attn2"):  # PixArt applies no norm before cross-attention
        out = block.attn2(
            stream.value(),
            encoder_hidden_states=encoder_hidden_states,
            attention_mask=encoder_attention_mask,
            **kwargs,
        )
        step.store("attn2", out)
    else:
        out = step.cached("attn2")
    stream.add(out)

    if step.computes("ff"):
        norm = modulated_norm(block.norm2, stream.value(), scale_mlp, shift_mlp, step.fused)
        out = step.store("ff", block.ff(norm))
    else:
        out = step.cached("ff")
    stream.add(out, gate_mlp)
    return stream.value()


def _pixart_modulation(
    block: Any, hidden_states: torch.Tensor, timestep: torch.Tensor
) -> tuple[torch.Tensor, ...]:
    batch = hidden_states.shape[0]
    return (block.scale_shift_table[None] + timestep.reshape(batch, 6, -1)).chunk(6, dim=1)


def _pixart_reused(
    block: Any,
    cached: dict[str, torch.Tensor],
    hidden_states: torch.Tensor,
    attention_mask: torch.Tensor | None = None,
    encoder_hidden_states: torch.Tensor | None = None,
    encoder_attention_mask: torch.Tensor | None = None,
    timestep: torch.Tensor | None = None,
    **_: Any,
) -> tuple[list[tuple[torch.Tensor | None, torch.Tensor]]]:
    """What a PixArt block that reuses every component adds to its stream."""
    _, _, gate_msa, _, _, gate_mlp = _pixart_modulation(block, hidden_states, timestep)
    return ([(gate_msa, cached["attn1"]), (None, cached["attn2"]), (gate_mlp, cached["ff"])],)


# FLUX: FluxTransformerBlock (double stream); also SD3's JointTransformerBlock -------------------
def _adaln_zero_plain(norm: Any) -> bool:
    return getattr(norm, "emb", None) is None and isinstance(norm.norm, torch.nn.LayerNorm)


def _flux_double_supports(block: torch.nn.Module) -> bool:
    return _adaln_zero_plain(block.norm1) and _adaln_zero_plain(block.norm1_context)


def _sd3_joint_supports(block: torch.nn.Module) -> bool:
    """SD3's JointTransformerBlock computes like FLUX's double block, except the last block
    (context-pre-only: no text-stream MLP; it keeps component hooks) and SD3.5 Medium's dual
    attention (not re-stated)."""
    return (
        not block.context_pre_only
        and not block.use_dual_attention
        and block._chunk_size is None
        and _flux_double_supports(block)
    )


def _emb(norm: Any, temb: torch.Tensor, chunks: int) -> tuple[torch.Tensor, ...]:
    """The modulation vectors of an adaLN-zero norm, without normalising anything."""
    return norm.linear(norm.silu(temb)).chunk(chunks, dim=1)


def _emb_chunks(norm: Any, temb: torch.Tensor, chunks: int, wanted: tuple[int, ...]) -> list:
    """Chunks ``wanted`` of :func:`_emb` only: the rows of the modulation weight they need
    (FLUX's are 3072 x 18432 per norm: reading all of it for two gates costs more than the
    reused block's adds)."""
    linear, silu = norm.linear, norm.silu(temb)
    size = linear.out_features // chunks
    out = []
    for i in wanted:
        rows = slice(i * size, (i + 1) * size)
        bias = None if linear.bias is None else linear.bias[rows]
        out.append(torch.nn.functional.linear(silu, linear.weight[rows], bias))
    return out


def _flux_double_reused(
    block: Any, cached: dict[str, Any], hidden_states: Any, encoder_hidden_states: Any, temb: Any,
    **_: Any,
) -> tuple[list, list]:
    """What a FLUX double block that reuses every component adds to its text and image
    streams (only the four gates of its modulation are computed)."""
    gate_msa, gate_mlp = _emb_chunks(block.norm1, temb, 6, (2, 5))
    c_gate_msa, c_gate_mlp = _emb_chunks(block.norm1_context, temb, 6, (2, 5))
    attn = cached["attn"]
    img = [(gate_msa, attn[0]), (gate_mlp, cached["ff"])]
    if len(attn) == 3:  # IP-adapter output
        img.append((None, attn[2]))
    return [(c_gate_msa, attn[1]), (c_gate_mlp, cached["ff_context"])], img


def _flux_single_reused(
    block: Any,
    cached: dict[str, Any],
    hidden_states: torch.Tensor,
    encoder_hidden_states: torch.Tensor,
    temb: torch.Tensor,
    **_: Any,
) -> tuple[list, list]:
    """What a FLUX single block that reuses its output projection adds to each stream."""
    (gate,) = _emb_chunks(block.norm, temb, 3, (2,))
    out, text_len = cached["proj_out"], encoder_hidden_states.shape[1]
    return [(gate, out[:, :text_len])], [(gate, out[:, text_len:])]


def _flux_double_forward(
    block: Any,
    step: BlockStep,
    hidden_states: torch.Tensor,
    encoder_hidden_states: torch.Tensor,
    temb: torch.Tensor,
    image_rotary_emb: Any = None,
    joint_attention_kwargs: dict[str, Any] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp = _emb(block.norm1, temb, 6)
    c_shift_msa, c_scale_msa, c_gate_msa, c_shift_mlp, c_scale_mlp, c_gate_mlp = _emb(
        block.norm1_context, temb, 6
    )
    img = Residual(hidden_states, step.fused)
    txt = Residual(encoder_hidden_states, step.fused)

    if step.computes("attn"):
        norm = modulated_norm(block.norm1.norm, hidden_states, scale_msa, shift_msa, step.fused)
        c_norm = modulated_norm(
            block.norm1_context.norm, encoder_hidden_states, c_scale_msa, c_shift_msa, step.fused
        )
        # SD3's joint attention takes no rotary embedding (and warns about unexpected ones)
        rope = {} if image_rotary_emb is None else {"image_rotary_emb": image_rotary_emb}
        outputs = block.attn(
            hidden_states=norm,
            encoder_hidden_states=c_norm,
            **rope,
            **(joint_attention_kwargs or {}),
        )
        step.store("attn", outputs)
    else:
        outputs = step.cached("attn")
    img.add(outputs[0], gate_msa)
    txt.add(outputs[1], c_gate_msa)

    if step.computes("ff"):
        norm = modulated_norm(block.norm2, img.value(), scale_mlp, shift_mlp, step.fused)
        out = step.store("ff", block.ff(norm))
    else:
        out = step.cached("ff")
    img.add(out, gate_mlp)
    if len(outputs) == 3:  # IP-adapter output joins after the MLP, as in diffusers
        img.add(outputs[2])

    if step.computes("ff_context"):
        norm = modulated_norm(
            block.norm2_context, txt.value(), c_scale_mlp, c_shift_mlp, step.fused
        )
        out = step.store("ff_context", block.ff_context(norm))
    else:
        out = step.cached("ff_context")
    txt.add(out, c_gate_mlp)

    encoder_hidden_states, hidden_states = txt.value(), img.value()
    if encoder_hidden_states.dtype == torch.float16:
        encoder_hidden_states = encoder_hidden_states.clip(-65504, 65504)
    return encoder_hidden_states, hidden_states


# FLUX: FluxSingleTransformerBlock ----------------------------------------------------------------
def _flux_single_supports(block: torch.nn.Module) -> bool:
    return isinstance(block.norm.norm, torch.nn.LayerNorm)


def _flux_single_forward(
    block: Any,
    step: BlockStep,
    hidden_states: torch.Tensor,
    encoder_hidden_states: torch.Tensor,
    temb: torch.Tensor,
    image_rotary_emb: Any = None,
    joint_attention_kwargs: dict[str, Any] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    text_len = encoder_hidden_states.shape[1]
    shift, scale, gate = _emb(block.norm, temb, 3)
    run_attn, run_mlp, run_out = (step.computes(n) for n in ("attn", "proj_mlp", "proj_out"))

    if run_out or run_attn or run_mlp:
        joint = torch.cat([encoder_hidden_states, hidden_states], dim=1)
    if run_attn or run_mlp:
        norm = modulated_norm(block.norm.norm, joint, scale, shift, step.fused)
    if run_out:
        if run_attn:
            attn = block.attn(
                hidden_states=norm,
                image_rotary_emb=image_rotary_emb,
                **(joint_attention_kwargs or {}),
            )
            step.store("attn", attn)
        else:
            attn = step.cached("attn")
        mlp = step.store("proj_mlp", block.proj_mlp(norm)) if run_mlp else step.cached("proj_mlp")
        out = block.proj_out(torch.cat([attn, block.act_mlp(mlp)], dim=2))
        step.store("proj_out", out)
        result = gated_sum(joint, [(gate, out)], step.fused)
        encoder_hidden_states, hidden_states = result[:, :text_len], result[:, text_len:]
    else:
        # Outputs only needed by a later step (they are live, or computes() would be False).
        if run_attn:
            step.store(
                "attn",
                block.attn(
                    hidden_states=norm,
                    image_rotary_emb=image_rotary_emb,
                    **(joint_attention_kwargs or {}),
                ),
            )
        if run_mlp:
            step.store("proj_mlp", block.proj_mlp(norm))
        out = step.cached("proj_out")
        # The residual add per stream: no concatenation of the streams is needed.
        encoder_hidden_states = gated_sum(
            encoder_hidden_states, [(gate, out[:, :text_len])], step.fused
        )
        hidden_states = gated_sum(hidden_states, [(gate, out[:, text_len:])], step.fused)
    if hidden_states.dtype == torch.float16:
        encoder_hidden_states = encoder_hidden_states.clip(-65504, 65504)
        hidden_states = hidden_states.clip(-65504, 65504)
    return encoder_hidden_states, hidden_states
