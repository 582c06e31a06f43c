"""Fused elementwise steps of a lean block forward.

The residual stream of a transformer block is updated as ``h + gate * out`` once per component,
and a component's input is ``layer_norm(h) * (1 + scale) + shift``. Done op by op (as diffusers
does) each is several passes over the stream through broadcasting kernels; here each is one
pass. When several reused components follow each other, their cached outputs are added in one
pass too (:func:`gated_sum`), so a reused component costs reading its cache and little more.

On CUDA with triton installed these are Triton kernels; elsewhere (and for shapes the kernels do
not cover, and inside a ``torch.compile`` graph, whose compiler fuses them itself) the same
arithmetic in torch ops. Results are always contiguous.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

__all__ = ["gated_sum", "modulate", "modulated_norm", "rounded_block", "rounded_block_applies"]

Term = tuple[torch.Tensor | None, torch.Tensor]

try:  # triton is optional: CPU installs and tests run the torch path
    from ecad.caching._triton_kernels import gated_sum_kernel as _SUM_KERNEL
    from ecad.caching._triton_kernels import modulated_norm_kernel as _NORM_KERNEL
    from ecad.caching._triton_kernels import rounded_block_kernel as _ROUNDED_KERNEL
except ImportError:  # pragma: no cover - depends on the install
    _SUM_KERNEL = _NORM_KERNEL = _ROUNDED_KERNEL = None

_MAX_TERMS = 3
_MAX_NORM_CHANNELS = 16384
_FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32)


def modulate(x: torch.Tensor, scale: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """adaLN modulation ``x * (1 + scale) + shift`` as one multiply-add (``scale``/``shift``
    ``[B, C]`` or ``[B, 1, C]``)."""
    scale, shift = _bcast(scale, x), _bcast(shift, x)
    if _tracks_grad(x, scale, shift):  # out= records no autograd graph
        return torch.addcmul(shift, x, 1 + scale).contiguous()
    return torch.addcmul(shift, x, 1 + scale, out=_empty(x))


def modulated_norm(
    norm: torch.nn.Module,
    x: torch.Tensor,
    scale: torch.Tensor,
    shift: torch.Tensor,
    fused: bool = True,
) -> torch.Tensor:
    """``modulate(norm(x), scale, shift)``: one pass when ``norm`` is a plain ``LayerNorm``
    (no affine weights) over the last dimension."""
    if fused and not _tracks_grad(x, scale, shift) and _norm_kernel_applies(norm, x, scale, shift):
        return _fused_modulated_norm(x, scale, shift, norm.eps, _NORM_KERNEL)
    return modulate(norm(x), scale, shift)


def gated_sum(base: torch.Tensor, terms: Sequence[Term], fused: bool = True) -> torch.Tensor:
    """``base + sum(gate * value)`` over ``terms`` (``gate`` ``None`` means 1), as a new
    contiguous tensor.

    ``base`` and every value are ``[B, N, C]``; a gate is ``[B, C]`` or ``[B, 1, C]``. ``base`` is
    never modified in place. ``fused`` allows the one-pass kernel where it applies.
    """
    if not terms:
        return base
    tensors = [base, *(t for term in terms for t in term if t is not None)]
    if fused and not _tracks_grad(*tensors) and _sum_kernel_applies(base, terms):
        return _fused_gated_sum(base, terms, _SUM_KERNEL)
    return _torch_gated_sum(base, terms, _tracks_grad(*tensors))


def rounded_block_applies(
    hidden: torch.Tensor, values: Sequence[torch.Tensor], gates: Sequence[torch.Tensor]
) -> bool:
    """Whether :func:`rounded_block` runs its one-pass kernel on these tensors: CUDA, no
    autograd, not inside a compiled graph, three ``[B, N, C]`` values of ``hidden``'s dtype and
    two float32 gates ``[B, C]`` or ``[B, 1, C]`` (channel stride 1)."""
    if _ROUNDED_KERNEL is None or not _on_gpu(hidden) or _tracks_grad(hidden, *values, *gates):
        return False
    values_ok = all(_value_ok(v, hidden) for v in values)
    gates_ok = all(_gate_ok(g, hidden, torch.float32) for g in gates)
    return len(values) == 3 and len(gates) == 2 and values_ok and gates_ok


def rounded_block(
    hidden: torch.Tensor,
    values: Sequence[torch.Tensor],
    gates: Sequence[torch.Tensor],
    kernel=None,
) -> torch.Tensor:
    """``rnd(rnd(rnd(hidden + a * ga) + b) + f * gf)`` in one pass (``values`` ``(a, b, f)``,
    ``gates`` ``(ga, gf)``, float32 arithmetic, ``rnd`` to ``hidden``'s dtype): what three
    rounded residual updates compute op by op, bit for bit, reading the stream once instead of
    five times. Only where :func:`rounded_block_applies` (``kernel``: tests pass triton's
    interpreted one)."""
    batch, tokens, channels = hidden.shape
    out = _empty(hidden)
    a, b, f = values
    ga, gf = gates
    block_r, block_c = 16, 128
    (kernel or _ROUNDED_KERNEL)[(_cdiv(batch * tokens, block_r), _cdiv(channels, block_c))](
        out,
        hidden,
        *hidden.stride(),
        a,
        a.stride(0),
        a.stride(1),
        b,
        b.stride(0),
        b.stride(1),
        f,
        f.stride(0),
        f.stride(1),
        ga,
        ga.stride(0),
        gf,
        gf.stride(0),
        batch * tokens,
        tokens,
        channels,
        BLOCK_R=block_r,
        BLOCK_C=block_c,
        enable_fp_fusion=False,  # a product rounded before its add, as in two torch ops
    )
    return out


def _tracks_grad(*tensors: torch.Tensor) -> bool:
    return torch.is_grad_enabled() and any(t.requires_grad for t in tensors)


def _empty(like: torch.Tensor) -> torch.Tensor:
    # Contiguous whatever ``like``'s layout: a transposed residual stream (PixArt's patch
    # embedding returns one) would otherwise propagate to every block and slow all of them.
    return torch.empty(like.shape, dtype=like.dtype, device=like.device)


def _bcast(gate: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return gate if gate.ndim == like.ndim else gate.unsqueeze(1)


def _torch_gated_sum(base: torch.Tensor, terms: Sequence[Term], grad: bool = False) -> torch.Tensor:
    gate, value = terms[0]
    if grad:  # out= records no autograd graph; in-place updates of our own result do
        out = base + value if gate is None else torch.addcmul(base, _bcast(gate, base), value)
        out = out.contiguous()
    else:
        out = _empty(base)
        if gate is None:
            torch.add(base, value, out=out)
        else:
            torch.addcmul(base, _bcast(gate, base), value, out=out)
    for gate, value in terms[1:]:  # ``out`` is ours: update in place
        if gate is None:
            out.add_(value)
        else:
            out.addcmul_(_bcast(gate, base), value)
    return out


def _gate_ok(gate: torch.Tensor, base: torch.Tensor, dtype: torch.dtype | None = None) -> bool:
    """A ``[B, C]`` or ``[B, 1, C]`` gate of ``dtype`` (default ``base``'s), channel stride 1."""
    batch, _, channels = base.shape
    shape_ok = gate.shape in ((batch, channels), (batch, 1, channels))
    return shape_ok and gate.dtype == (dtype or base.dtype) and gate.stride(-1) == 1


def _value_ok(value: torch.Tensor, base: torch.Tensor) -> bool:
    return value.shape == base.shape and value.dtype == base.dtype and value.stride(-1) == 1


def _on_gpu(x: torch.Tensor) -> bool:
    # Inside a torch.compile graph the torch ops below are fused by the compiler instead.
    return (
        x.is_cuda
        and x.ndim == 3
        and x.dtype in _FLOAT_DTYPES
        and not torch.compiler.is_compiling()
    )


def _sum_kernel_applies(base: torch.Tensor, terms: Sequence[Term]) -> bool:
    if _SUM_KERNEL is None or not _on_gpu(base) or len(terms) > _MAX_TERMS:
        return False
    for gate, value in terms:
        if not _value_ok(value, base):
            return False
        if gate is not None and not _gate_ok(gate, base):
            return False
    return True


def _norm_kernel_applies(norm, x, scale, shift) -> bool:
    if _NORM_KERNEL is None or not _on_gpu(x) or not isinstance(norm, torch.nn.LayerNorm):
        return False
    if norm.weight is not None or norm.bias is not None or x.shape[-1] > _MAX_NORM_CHANNELS:
        return False
    return tuple(norm.normalized_shape) == (x.shape[-1],) and all(
        _gate_ok(t, x) for t in (scale, shift)
    )


def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


def _fused_gated_sum(base: torch.Tensor, terms: Sequence[Term], kernel) -> torch.Tensor:
    """Launch ``kernel`` (compiled, or triton's interpreter in tests) over ``terms``."""
    batch, tokens, channels = base.shape
    out = _empty(base)
    padded = list(terms) + [(None, base)] * (_MAX_TERMS - len(terms))
    args: list = []
    for gate, value in padded:
        args += [value, value.stride(0), value.stride(1)]
        args += [base, 0] if gate is None else [gate, gate.stride(0)]
    rows = batch * tokens
    block_r, block_c = 16, 128
    kernel[(_cdiv(rows, block_r), _cdiv(channels, block_c))](
        out,
        base,
        *base.stride(),
        *args,
        rows,
        tokens,
        channels,
        NUM_TERMS=len(terms),
        HAS_G0=padded[0][0] is not None,
        HAS_G1=padded[1][0] is not None,
        HAS_G2=padded[2][0] is not None,
        BLOCK_R=block_r,
        BLOCK_C=block_c,
    )
    return out


def _fused_modulated_norm(
    x: torch.Tensor, scale: torch.Tensor, shift: torch.Tensor, eps: float, kernel
) -> torch.Tensor:
    batch, tokens, channels = x.shape
    out = _empty(x)
    block_c = 1 << (channels - 1).bit_length()
    kernel[(batch * tokens,)](
        out,
        x,
        *x.stride(),
        scale,
        scale.stride(0),
        shift,
        shift.stride(0),
        tokens,
        channels,
        float(eps),
        BLOCK_C=block_c,
        num_warps=4 if block_c <= 2048 else 8,
    )
    return out
