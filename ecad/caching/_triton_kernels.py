"""Triton kernels behind :mod:`ecad.caching.kernels` (imported only where triton is installed).

Both read any ``[B, N, C]`` layout (strides are arguments), accumulate in float32, round once and
write a contiguous result. The undecorated bodies stay importable so that tests can run them
under triton's CPU interpreter; terms are written out rather than factored into nested jit
helpers, which that interpreter cannot call.
"""

from __future__ import annotations

import triton
import triton.language as tl

__all__ = ["gated_sum_kernel", "modulated_norm_kernel", "rounded_block_kernel"]


def _gated_sum(
    out_ptr,
    base_ptr,
    base_sb,
    base_sn,
    base_sc,
    v0,
    v0_sb,
    v0_sn,
    g0,
    g0_sb,
    v1,
    v1_sb,
    v1_sn,
    g1,
    g1_sb,
    v2,
    v2_sb,
    v2_sn,
    g2,
    g2_sb,
    n_rows,
    tokens,
    channels,
    NUM_TERMS: tl.constexpr,
    HAS_G0: tl.constexpr,
    HAS_G1: tl.constexpr,
    HAS_G2: tl.constexpr,
    BLOCK_R: tl.constexpr,
    BLOCK_C: tl.constexpr,
):
    """``out = base + sum_i gate_i[b] * value_i`` (values: channel stride 1; gates ``[B, C]``
    with channel stride 1)."""
    rows = (tl.program_id(0) * BLOCK_R + tl.arange(0, BLOCK_R)).to(tl.int64)
    cols = tl.program_id(1) * BLOCK_C + tl.arange(0, BLOCK_C)
    mask = (rows < n_rows)[:, None] & (cols < channels)[None, :]
    b = (rows // tokens)[:, None]
    n = (rows % tokens)[:, None]
    c = cols[None, :]
    acc = tl.load(base_ptr + b * base_sb + n * base_sn + c * base_sc, mask=mask, other=0.0)
    acc = acc.to(tl.float32)
    x = tl.load(v0 + b * v0_sb + n * v0_sn + c, mask=mask, other=0.0).to(tl.float32)
    if HAS_G0:
        x = x * tl.load(g0 + b * g0_sb + c, mask=mask, other=0.0).to(tl.float32)
    acc += x
    if NUM_TERMS > 1:
        x = tl.load(v1 + b * v1_sb + n * v1_sn + c, mask=mask, other=0.0).to(tl.float32)
        if HAS_G1:
            x = x * tl.load(g1 + b * g1_sb + c, mask=mask, other=0.0).to(tl.float32)
        acc += x
    if NUM_TERMS > 2:
        x = tl.load(v2 + b * v2_sb + n * v2_sn + c, mask=mask, other=0.0).to(tl.float32)
        if HAS_G2:
            x = x * tl.load(g2 + b * g2_sb + c, mask=mask, other=0.0).to(tl.float32)
        acc += x
    tl.store(out_ptr + rows[:, None] * channels + c, acc.to(out_ptr.dtype.element_ty), mask=mask)


def _modulated_norm(
    out_ptr,
    x_ptr,
    x_sb,
    x_sn,
    x_sc,
    scale_ptr,
    scale_sb,
    shift_ptr,
    shift_sb,
    tokens,
    channels,
    eps,
    BLOCK_C: tl.constexpr,
):
    """One row: ``layer_norm(x) * (1 + scale[b]) + shift[b]`` (no affine weights)."""
    row = tl.program_id(0).to(tl.int64)
    b = row // tokens
    n = row % tokens
    cols = tl.arange(0, BLOCK_C)
    mask = cols < channels
    x = tl.load(x_ptr + b * x_sb + n * x_sn + cols * x_sc, mask=mask, other=0.0).to(tl.float32)
    mean = tl.sum(x, axis=0) / channels
    centred = tl.where(mask, x - mean, 0.0)
    var = tl.sum(centred * centred, axis=0) / channels
    normed = centred * (1.0 / tl.sqrt(var + eps))
    scale = tl.load(scale_ptr + b * scale_sb + cols, mask=mask, other=0.0).to(tl.float32)
    shift = tl.load(shift_ptr + b * shift_sb + cols, mask=mask, other=0.0).to(tl.float32)
    out = normed * (1.0 + scale) + shift
    tl.store(out_ptr + row * channels + cols, out.to(out_ptr.dtype.element_ty), mask=mask)


def _rounded_block(
    out_ptr,
    h_ptr,
    h_sb,
    h_sn,
    h_sc,
    a_ptr,
    a_sb,
    a_sn,
    b_ptr,
    b_sb,
    b_sn,
    f_ptr,
    f_sb,
    f_sn,
    ga_ptr,
    ga_sb,
    gf_ptr,
    gf_sb,
    n_rows,
    tokens,
    channels,
    BLOCK_R: tl.constexpr,
    BLOCK_C: tl.constexpr,
):
    """A block whose three components are all reused, rounded as op-by-op torch rounds:
    ``h = rnd(h + a * ga); h = rnd(h + b); out = rnd(h + f * gf)`` with float32 arithmetic,
    ``rnd`` to the output's dtype and float32 gates ``[B, C]`` (channel stride 1). Launched with
    fp fusion off, so each product is rounded before its add (no FMA), as two torch ops do."""
    rows = (tl.program_id(0) * BLOCK_R + tl.arange(0, BLOCK_R)).to(tl.int64)
    cols = tl.program_id(1) * BLOCK_C + tl.arange(0, BLOCK_C)
    mask = (rows < n_rows)[:, None] & (cols < channels)[None, :]
    b = (rows // tokens)[:, None]
    n = (rows % tokens)[:, None]
    c = cols[None, :]
    dtype = out_ptr.dtype.element_ty
    h = tl.load(h_ptr + b * h_sb + n * h_sn + c * h_sc, mask=mask, other=0.0).to(tl.float32)
    x = tl.load(a_ptr + b * a_sb + n * a_sn + c, mask=mask, other=0.0).to(tl.float32)
    x = x * tl.load(ga_ptr + b * ga_sb + c, mask=mask, other=0.0)
    h = (h + x).to(dtype).to(tl.float32)
    x = tl.load(b_ptr + b * b_sb + n * b_sn + c, mask=mask, other=0.0).to(tl.float32)
    h = (h + x).to(dtype).to(tl.float32)
    x = tl.load(f_ptr + b * f_sb + n * f_sn + c, mask=mask, other=0.0).to(tl.float32)
    x = x * tl.load(gf_ptr + b * gf_sb + c, mask=mask, other=0.0)
    tl.store(out_ptr + rows[:, None] * channels + c, (h + x).to(dtype), mask=mask)


gated_sum_kernel = triton.jit(_gated_sum)
modulated_norm_kernel = triton.jit(_modulated_norm)
rounded_block_kernel = triton.jit(_rounded_block)
