"""Lean block forwards: the one place that knows how each diffusers block computes.

A *recipe* re-states a block's ``forward`` (same modules, same parameters, same order of
operations) against a :class:`BlockStep` that says, per component, whether it runs this step.
A component that is reused gets its cached raw output back, and the work that only fed it (its
norm and modulation) is skipped; a component whose output nobody will read (FLUX single blocks:
attention and MLP when ``proj_out`` is reused) is not computed at all. Gates and residual adds
run with the current step's modulation, with runs of adds fused into one pass
(:func:`ecad.caching.kernels.gated_sum`).

Recipes are keyed by block class; a block whose class (or configuration) has none falls back to
component hooks, which give the same outputs with less saving.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch

from ecad.caching.kernels import gated_sum, modulated_norm
from ecad.errors import ScheduleMismatchError

__all__ = ["BlockRecipe", "BlockStep", "recipe_for", "register_recipe"]


class BlockStep(Protocol):
    """What a recipe asks about the current step; names are attribute paths inside the block."""

    fused: bool

    def computes(self, name: str) -> bool:
        """``True`` if ``name`` must run this step (it is scheduled and its output is read)."""

    def cached(self, name: str) -> Any:
        """The output of ``name`` cached at the last step it ran."""

    def store(self, name: str, output: Any) -> Any:
        """Keep ``output`` if a later step reuses it; returns ``output``."""


@dataclass(frozen=True)
class BlockRecipe:
    """A lean forward for one block class.

    Attributes:
        components: attribute paths of the cacheable components, in forward order.
        forward: ``forward(block, step, *args, **kwargs)`` with the block's own signature.
        supports: whether a block instance has the configuration the forward re-states.
        consumers: component whose only reader is another component (``{"attn": "proj_out"}``):
            its output is dead at a step where the reader is reused.
    """

    components: tuple[str, ...]
    forward: Callable[..., Any]
    supports: Callable[[torch.nn.Module], bool] = lambda block: True
    consumers: Mapping[str, str] = field(default_factory=dict)


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


class _Residual:
    """The residual stream with pending gated adds, materialised when a component reads it."""

    def __init__(self, base: torch.Tensor, fused: bool) -> None:
        self.base, self.fused, self.terms = base, fused, []

    def add(self, value: torch.Tensor, gate: torch.Tensor | None = None) -> None:
        self.terms.append((gate, value))

    def value(self) -> torch.Tensor:
        if self.terms:
            self.base = gated_sum(self.base, self.terms, self.fused)
            self.terms = []
        return self.base


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
    batch = hidden_states.shape[0]
    shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp = (
        block.scale_shift_table[None] + timestep.reshape(batch, 6, -1)
    ).chunk(6, dim=1)
    stream = _Residual(hidden_states, step.fused)

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
    img = _Residual(hidden_states, step.fused)
    txt = _Residual(encoder_hidden_states, step.fused)

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
    img = _Residual(hidden_states, step.fused)
    txt = _Residual(encoder_hidden_states, step.fused)
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
        step, "ff_context", block.ff_context, txt, block.norm2_context, c_scale_mlp, c_shift_mlp,
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
    stream: _Residual,
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
    img = _Residual(hidden_states, step.fused)
    txt = _Residual(encoder_hidden_states, step.fused)
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

    from ecad.caching.recipe_wan import register_wan  # its own module: this one is long

    register_wan()

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
        BlockRecipe(("attn1", "attn2", "ff"), _pixart_forward, _pixart_supports),
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
