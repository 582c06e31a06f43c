"""Fused residual adds: the torch path and the Triton kernel (under triton's CPU interpreter)."""

from __future__ import annotations

import pytest
import torch

from ecad.caching.kernels import gated_sum, modulate, modulated_norm
from tests.caching.interpreted import run_interpreted


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


def test_results_are_contiguous_whatever_the_stream_layout():
    """PixArt's patch embedding hands blocks a transposed stream; results must not keep it."""
    base, terms = _terms(2, 6, 4, torch.float32, (True, False))
    transposed = base.transpose(1, 2).contiguous().transpose(1, 2)
    out = gated_sum(transposed, terms)
    assert out.is_contiguous()
    torch.testing.assert_close(out, _naive(base, terms))
    scale, shift = torch.randn(2, 4), torch.randn(2, 1, 4)
    norm = torch.nn.LayerNorm(4, elementwise_affine=False)
    assert modulate(transposed, scale, shift).is_contiguous()
    assert modulated_norm(norm, transposed, scale, shift).is_contiguous()


def test_no_terms_returns_base():
    base = torch.ones(1, 2, 3)
    assert gated_sum(base, []) is base


def test_modulate():
    x, scale, shift = torch.randn(2, 4, 3), torch.randn(2, 1, 3), torch.randn(2, 3)
    expected = x * (1 + scale) + shift[:, None]
    torch.testing.assert_close(modulate(x, scale, shift), expected)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_compiled_kernel_matches_the_torch_path_on_cuda(dtype):
    from ecad.caching import kernels

    if kernels._SUM_KERNEL is None:
        pytest.skip("triton is not installed")
    base, terms = _terms(4, 300, 1152, dtype, (True, False, True))
    base = base.cuda()
    terms = [(None if g is None else g.cuda(), v.cuda()) for g, v in terms]
    assert kernels._sum_kernel_applies(base, terms)
    fused = gated_sum(base, terms)
    expected = _naive(base.float(), [(g if g is None else g.float(), v.float()) for g, v in terms])
    torch.testing.assert_close(fused.float(), expected, rtol=1e-2, atol=1e-2)


def _norm_inputs(dtype, channels=200):
    gen = torch.Generator().manual_seed(1)
    x = (3 * torch.randn(3, 37, channels, generator=gen) + 1).to(dtype)
    x = x.transpose(1, 2).contiguous().transpose(1, 2)  # a transposed stream, as PixArt's
    mod = torch.randn(3, 6, channels, generator=gen).to(dtype)
    scale, shift = mod[:, 1:2], mod[:, 4]  # views with a batch stride, as from chunk()
    return x, scale, shift


def test_norm_with_affine_weights_takes_the_torch_path():
    x, scale, shift = _norm_inputs(torch.float32, channels=8)
    norm = torch.nn.LayerNorm(8)
    torch.nn.init.normal_(norm.weight)
    torch.testing.assert_close(
        modulated_norm(norm, x, scale, shift), modulate(norm(x), scale, shift)
    )


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("channels", [1152, 3072])
def test_compiled_norm_kernel_matches_the_torch_path_on_cuda(dtype, channels):
    from ecad.caching import kernels

    if kernels._NORM_KERNEL is None:
        pytest.skip("triton is not installed")
    x, scale, shift = (t.cuda() for t in _norm_inputs(dtype, channels))
    norm = torch.nn.LayerNorm(channels, elementwise_affine=False, eps=1e-6).cuda()
    assert kernels._norm_kernel_applies(norm, x, scale, shift)
    out = modulated_norm(norm, x, scale, shift)
    expected = modulate(norm(x.float()), scale.float(), shift.float())
    torch.testing.assert_close(out.float(), expected, rtol=2e-2, atol=2e-2)


# The Triton kernels under triton's CPU interpreter (tests/caching/interpreted.py).
_INTERPRETED = """
import json, torch
from ecad.caching import _triton_kernels as k, kernels
from tests.caching.test_kernels import _naive, _norm_inputs, _terms
out = {}
for dtype in (torch.float32, torch.bfloat16):
    for gates in ((True,), (True, False), (True, False, True), (False, True)):
        base, terms = _terms(3, 37, 200, dtype, gates)
        base = base.transpose(1, 2).contiguous().transpose(1, 2)
        gate, value = terms[0]
        terms[0] = (gate, torch.cat([value, value], dim=1)[:, 37:])
        got = kernels._fused_gated_sum(base, terms, k.gated_sum_kernel)
        ref = _naive(base.float(), [(g if g is None else g.float(), v.float()) for g, v in terms])
        key = f"sum {str(dtype)[6:]} {gates}"
        rel = float((got.float() - ref).abs().max() / ref.abs().max())
        out[key] = [rel, got.is_contiguous(), got.dtype == dtype]
    x, scale, shift = _norm_inputs(dtype)
    norm = torch.nn.LayerNorm(x.shape[-1], elementwise_affine=False, eps=1e-6)
    got = kernels._fused_modulated_norm(x, scale, shift, norm.eps, k.modulated_norm_kernel)
    ref = kernels.modulate(norm(x.float()), scale.float(), shift.float())
    rel = float((got.float() - ref).abs().max() / ref.abs().max())
    out[f"norm {str(dtype)[6:]}"] = [rel, got.is_contiguous(), got.dtype == dtype]
print(json.dumps(out))
"""


def test_triton_kernels_match_the_torch_path_under_the_interpreter():
    results = run_interpreted(_INTERPRETED)
    assert len(results) == 10
    for key, (rel_diff, contiguous, same_dtype) in results.items():
        tol = 1e-6 if "float32" in key else 1e-2  # bf16 keeps 8 bits: one rounding apart
        assert rel_diff <= tol and contiguous and same_dtype, (key, rel_diff)
