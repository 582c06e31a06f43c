"""Fused residual adds: the torch path and the Triton kernel (under triton's CPU interpreter)."""

from __future__ import annotations

import pytest
import torch

from ecad.caching.kernels import _fused_gated_sum, gated_sum, modulate


def _terms(batch, tokens, channels, dtype, gates):
    gen = torch.Generator().manual_seed(0)

    def rand(*shape):
        return torch.randn(*shape, generator=gen).to(dtype)

    out = []
    for i, gated in enumerate(gates):
        gate = (rand(batch, 1, channels) if i % 2 else rand(batch, channels)) if gated else None
        out.append((gate, rand(batch, tokens, channels)))
    return rand(batch, tokens, channels), out


def _naive(base, terms):
    out = base
    for gate, value in terms:
        if gate is not None:
            value = (gate if gate.ndim == 3 else gate[:, None]) * value
        out = out + value
    return out


@pytest.mark.parametrize("gates", [(True,), (False,), (True, False), (True, False, True)])
def test_torch_path_matches_the_unfused_adds_and_leaves_base_alone(gates):
    base, terms = _terms(3, 5, 8, torch.float32, gates)
    before = base.clone()
    out = gated_sum(base, terms)
    torch.testing.assert_close(out, _naive(base, terms))
    assert torch.equal(base, before) and out is not base


def test_no_terms_returns_base():
    base = torch.ones(1, 2, 3)
    assert gated_sum(base, []) is base


def test_modulate():
    x, scale, shift = torch.randn(2, 4, 3), torch.randn(2, 1, 3), torch.randn(2, 1, 3)
    torch.testing.assert_close(modulate(x, scale, shift), x * (1 + scale) + shift)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("gates", [(True,), (True, False), (True, False, True), (False, True)])
def test_triton_kernel_matches_the_torch_path(dtype, gates):
    interpreter = pytest.importorskip("triton.runtime.interpreter")
    from ecad.caching import _triton_residual

    kernel = interpreter.InterpretedFunction(_triton_residual._gated_sum)
    # Odd sizes: rows and channels not multiples of the tile.
    base, terms = _terms(3, 37, 200, dtype, gates)
    out = _fused_gated_sum(base, terms, kernel)
    expected = _naive(base.float(), [(g if g is None else g.float(), v.float()) for g, v in terms])
    tol = 1e-6 if dtype == torch.float32 else 2e-2
    torch.testing.assert_close(out.float(), expected, rtol=tol, atol=tol)
    assert out.dtype == dtype


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_compiled_kernel_matches_the_torch_path_on_cuda(dtype):
    from ecad.caching import kernels

    if kernels._KERNEL is None:
        pytest.skip("triton is not installed")
    base, terms = _terms(4, 300, 1152, dtype, (True, False, True))
    base = base.cuda()
    terms = [(None if g is None else g.cuda(), v.cuda()) for g, v in terms]
    assert kernels._kernel_applies(base, terms)
    fused = gated_sum(base, terms)
    expected = _naive(base.float(), [(g if g is None else g.float(), v.float()) for g, v in terms])
    torch.testing.assert_close(fused.float(), expected, rtol=1e-2, atol=1e-2)
