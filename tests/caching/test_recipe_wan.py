"""Wan's lean block forward: the two-pass gated add keeps diffusers' arithmetic bit for bit."""

from __future__ import annotations

import pytest
import torch

from ecad.caching.recipe_wan import _gated_add


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
