"""The profiled call of a compiled benchmark row: the GPU's busy time is a union of kernels."""

from __future__ import annotations

import pytest
import torch

from ecad.bench.profiling import busy_ms, profile_call


def test_busy_time_counts_overlapping_kernels_once():
    assert busy_ms([]) == 0
    assert busy_ms([(0, 1000), (500, 1500), (1200, 1400), (3000, 4000)]) == pytest.approx(2.5)
    assert busy_ms([(10, 20), (0, 100)]) == pytest.approx(0.1)  # unsorted, nested


def test_a_cpu_call_reports_its_wall_time_only():
    ran = []
    out = profile_call(lambda: ran.append(torch.ones(4).sum()), "cpu")
    assert ran and set(out) == {"wall_ms"} and out["wall_ms"] > 0
