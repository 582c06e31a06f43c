"""Fused elementwise steps of a lean block forward.

The residual stream of a transformer block is updated as ``h + gate * out`` once per component.
When several components in a row are reused, their cached outputs are added in one pass over the
stream (:func:`gated_sum`) instead of one read-modify-write per component: a reused component
then costs reading its cache, nothing more. On CUDA this is one Triton kernel (when triton is
installed); elsewhere, and for shapes the kernel does not cover, the same sum in torch ops.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

__all__ = ["gated_sum", "modulate"]

Term = tuple[torch.Tensor | None, torch.Tensor]

try:  # triton is optional: CPU installs and tests run the torch path
    from ecad.caching._triton_residual import gated_sum_kernel as _KERNEL
except ImportError:  # pragma: no cover - depends on the install
    _KERNEL = None

_MAX_TERMS = 3
_FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32)


def modulate(x: torch.Tensor, scale: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """adaLN modulation ``x * (1 + scale) + shift`` as one multiply-add."""
    return torch.addcmul(shift, x, 1 + scale)


def gated_sum(base: torch.Tensor, terms: Sequence[Term], fused: bool = True) -> torch.Tensor:
    """``base + sum(gate * value)`` over ``terms`` (``gate`` ``None`` means 1), as a new tensor.

    ``base`` and every value are ``[B, N, C]``; a gate is ``[B, C]`` or ``[B, 1, C]``. ``base`` is
    never modified in place. ``fused`` allows the one-pass kernel where it applies.
    """
    if not terms:
        return base
    if fused and _kernel_applies(base, terms):
        return _fused_gated_sum(base, terms, _KERNEL)
    return _torch_gated_sum(base, terms)


def _torch_gated_sum(base: torch.Tensor, terms: Sequence[Term]) -> torch.Tensor:
    gate, value = terms[0]
    out = base + value if gate is None else torch.addcmul(base, _bcast(gate, base), value)
    for gate, value in terms[1:]:  # ``out`` is ours: update in place
        if gate is None:
            out.add_(value)
        else:
            out.addcmul_(_bcast(gate, base), value)
    return out


def _bcast(gate: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return gate if gate.ndim == like.ndim else gate.unsqueeze(1)


def _kernel_applies(base: torch.Tensor, terms: Sequence[Term]) -> bool:
    if _KERNEL is None or not base.is_cuda or len(terms) > _MAX_TERMS:
        return False
    if base.ndim != 3 or base.dtype not in _FLOAT_DTYPES or not base.is_contiguous():
        return False
    batch, _, channels = base.shape
    for gate, value in terms:
        if value.shape != base.shape or value.dtype != base.dtype or not value.is_contiguous():
            return False
        if gate is not None and (gate.numel() != batch * channels or not gate.is_contiguous()):
            return False
    return True


def _fused_gated_sum(base: torch.Tensor, terms: Sequence[Term], kernel) -> torch.Tensor:
    """Launch ``kernel`` (compiled, or triton's interpreter in tests) over ``terms``."""
    batch, tokens, channels = base.shape
    out = torch.empty_like(base)
    padded = list(terms) + [(None, base)] * (_MAX_TERMS - len(terms))
    args = []
    for gate, value in padded:
        args += [value, base if gate is None else gate]
    rows = batch * tokens
    block_r, block_c = 16, 128
    grid = (triton_cdiv(rows, block_r), triton_cdiv(channels, block_c))
    kernel[grid](
        out,
        base,
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


def triton_cdiv(a: int, b: int) -> int:
    return -(-a // b)
