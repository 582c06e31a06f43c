"""ModuleClock: the time inside a module's calls, and nothing left behind."""

from __future__ import annotations

import torch

from ecad.bench.timing import ModuleClock


class _Slow(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for _ in range(20):
            x = torch.tanh(x @ x.T @ x)
        return x


def test_module_clock_counts_each_call_and_removes_its_hooks():
    module, outer = _Slow(), torch.nn.Identity()
    x = torch.randn(64, 64)
    with ModuleClock(module, "cpu") as clock:
        for _ in range(3):
            outer(module(x))
    assert clock.calls == 3
    assert clock.total_ms() > 0
    assert not module._forward_hooks and not module._forward_pre_hooks
    module(x)  # after the block: not counted
    assert clock.calls == 3


def test_module_clock_on_a_compiled_module_times_the_wrapper():
    module = torch.compile(_Slow(), backend="eager", fullgraph=True)
    x = torch.randn(16, 16)
    with ModuleClock(module, "cpu") as clock:
        module(x)
        module(x)
    assert clock.calls == 2
