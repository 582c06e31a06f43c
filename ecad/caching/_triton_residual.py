"""Triton kernel behind :func:`ecad.caching.kernels.gated_sum` (imported only where triton is).

One pass over the residual stream: ``out = base + sum_i gate_i * value_i`` with ``gate_i`` of
shape ``[B, C]`` broadcast over the tokens, accumulated in float32 and rounded once.
"""

from __future__ import annotations

import triton
import triton.language as tl

__all__ = ["gated_sum_kernel"]


def _gated_sum(
    out_ptr,
    base_ptr,
    v0,
    g0,
    v1,
    g1,
    v2,
    g2,
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
    rows = tl.program_id(0) * BLOCK_R + tl.arange(0, BLOCK_R)
    cols = tl.program_id(1) * BLOCK_C + tl.arange(0, BLOCK_C)
    mask = (rows < n_rows)[:, None] & (cols < channels)[None, :]
    offs = rows.to(tl.int64)[:, None] * channels + cols[None, :]
    goffs = (rows // tokens).to(tl.int64)[:, None] * channels + cols[None, :]
    acc = tl.load(base_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    # Terms are written out: a nested jit helper would not run under triton's CPU interpreter.
    x = tl.load(v0 + offs, mask=mask, other=0.0).to(tl.float32)
    if HAS_G0:
        x = x * tl.load(g0 + goffs, mask=mask, other=0.0).to(tl.float32)
    acc += x
    if NUM_TERMS > 1:
        x = tl.load(v1 + offs, mask=mask, other=0.0).to(tl.float32)
        if HAS_G1:
            x = x * tl.load(g1 + goffs, mask=mask, other=0.0).to(tl.float32)
        acc += x
    if NUM_TERMS > 2:
        x = tl.load(v2 + offs, mask=mask, other=0.0).to(tl.float32)
        if HAS_G2:
            x = x * tl.load(g2 + goffs, mask=mask, other=0.0).to(tl.float32)
        acc += x
    tl.store(out_ptr + offs, acc.to(out_ptr.dtype.element_ty), mask=mask)


#: The compiled kernel; ``_gated_sum`` stays importable undecorated for triton's CPU interpreter.
gated_sum_kernel = triton.jit(_gated_sum)
