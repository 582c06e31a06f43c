"""Wan's lean block forward: the two-pass gated add and the one-pass all-reused block keep
diffusers' arithmetic bit for bit."""

from __future__ import annotations

import pytest
import torch

from ecad.caching.recipe_wan import _gated_add
from tests.caching.interpreted import run_interpreted


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float32])
@pytest.mark.parametrize("gate_shape", [(2, 1, 96), (2, 7, 96)])
def test_gated_add_equals_diffusers_expression_bitwise(dtype, gate_shape):
    gen = torch.Generator().manual_seed(0)
    hidden = (torch.randn(2, 7, 96, generator=gen) * 30).to(dtype)
    out = torch.randn(2, 7, 96, generator=gen).to(dtype)
    gate = torch.randn(*gate_shape, generator=gen)  # float32, as Wan's modulation is
    expected = (hidden.float() + out * gate).type_as(hidden)  # WanTransformerBlock's line
    before = hidden.clone()
    got = _gated_add(hidden, out, gate)
    assert got.dtype == dtype and got.shape == hidden.shape
    assert torch.equal(got, expected)
    assert torch.equal(hidden, before)  # a new tensor; the input is untouched


def test_gated_add_keeps_autograd():
    hidden = torch.randn(1, 3, 8, requires_grad=True)
    out = torch.randn(1, 3, 8)
    gate = torch.randn(1, 1, 8)
    _gated_add(hidden, out, gate).sum().backward()
    assert torch.equal(hidden.grad, torch.ones_like(hidden))


def _block_inputs(dtype, batch=2, tokens=37, channels=200, seed=0):
    gen = torch.Generator().manual_seed(seed)
    hidden = (torch.randn(batch, tokens, channels, generator=gen) * 30).to(dtype)
    values = tuple(torch.randn(batch, tokens, channels, generator=gen).to(dtype) for _ in range(3))
    table = torch.randn(batch, 6, channels, generator=gen)  # Wan's modulation: float32 chunks
    chunks = table.chunk(6, dim=1)
    return hidden, values, (chunks[2], chunks[5])


def _op_by_op(hidden, values, gates):
    """WanTransformerBlock's three residual updates, as diffusers writes them."""
    attn1, attn2, ffn = values
    hidden = (hidden.float() + attn1 * gates[0]).type_as(hidden)
    hidden = hidden + attn2
    return (hidden.float() + ffn.float() * gates[1]).type_as(hidden)


def _truncating_op_by_op(hidden, values, gates):
    """The same updates with float32 -> bfloat16 by truncation (what triton's interpreter does)."""

    def rnd(x):
        return (x.view(torch.int32) & ~0xFFFF).view(torch.float32)

    attn1, attn2, ffn = (v.float() for v in values)
    h = rnd(hidden.float() + attn1 * gates[0])
    h = rnd(h + attn2)
    return rnd(h + ffn * gates[1]).to(torch.bfloat16)


# The one-pass kernel under triton's CPU interpreter (tests/caching/interpreted.py). numpy
# rounds float32 to float16 as CUDA does, so float16 and float32 must match diffusers' op-by-op
# updates bit for bit. The interpreter truncates float32 to bfloat16 where CUDA rounds to
# nearest even, so there bfloat16 must match the same updates rounded by truncation bit for bit
# (the kernel's order and its three roundings), and it is checked against diffusers' rounding
# on CUDA (below).
_INTERPRETED = """
import json, torch
from ecad.caching import _triton_kernels as k, kernels
from tests.caching.test_recipe_wan import _block_inputs, _op_by_op, _truncating_op_by_op
out = {}
for dtype in (torch.float32, torch.float16, torch.bfloat16):
    hidden, values, gates = _block_inputs(dtype)
    strided = hidden.transpose(1, 2).contiguous().transpose(1, 2)
    reference = _truncating_op_by_op if dtype == torch.bfloat16 else _op_by_op
    for name, h in (("contiguous", hidden), ("transposed", strided)):
        got = kernels.rounded_block(h, values, gates, k.rounded_block_kernel)
        ref = reference(hidden, values, gates)
        out[f"{str(dtype)[6:]} {name}"] = [
            torch.equal(got, ref), got.is_contiguous(), got.dtype == dtype
        ]
print(json.dumps(out))
"""


def test_rounded_block_kernel_matches_op_by_op_under_the_interpreter():
    results = run_interpreted(_INTERPRETED)
    assert len(results) == 6
    for key, (equal, contiguous, same_dtype) in results.items():
        assert equal and contiguous and same_dtype, key


@pytest.mark.skipif(not torch.cuda.is_available(), reason="the one-pass kernel runs on CUDA")
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float32])
def test_rounded_block_is_bitwise_op_by_op_on_cuda(dtype):
    pytest.importorskip("triton")
    from ecad.caching.kernels import rounded_block, rounded_block_applies

    hidden, values, gates = _block_inputs(dtype, batch=2, tokens=1560, channels=1536)
    hidden = hidden.cuda()
    values = tuple(v.cuda() for v in values)
    gates = tuple(g.cuda() for g in gates)
    assert rounded_block_applies(hidden, values, gates)
    assert torch.equal(rounded_block(hidden, values, gates), _op_by_op(hidden, values, gates))


def test_rounded_block_does_not_apply_off_cuda_or_to_per_token_gates():
    from ecad.caching.kernels import rounded_block_applies

    hidden, values, gates = _block_inputs(torch.float32)
    assert not rounded_block_applies(hidden, values, gates)  # CPU: the torch path
    if torch.cuda.is_available():
        hidden, values = hidden.cuda(), tuple(v.cuda() for v in values)
        per_token = (torch.zeros_like(hidden), torch.zeros_like(hidden))  # Wan 2.2 TI2V
        assert not rounded_block_applies(hidden, values, per_token)
