"""Cost model: per-slot, per-step cost tables and schedule costs.

``CostTable`` needs only numpy; ``macs_table`` (FlopCounterMode) and the latency calibration
(``calibrate_latency``/``latency_table``, timed on a GPU) import torch on first use, so
torch-free processes (the scheduler) can read and apply stored tables.
"""

from typing import Any

from ecad.cost.table import COST_MODES, CostTable

__all__ = ["COST_MODES", "CostTable", "calibrate_latency", "latency_table", "macs_table"]


def __getattr__(name: str) -> Any:
    if name == "macs_table":
        from ecad.cost.flops import macs_table

        return macs_table
    if name in ("calibrate_latency", "latency_table"):
        from ecad.cost import latency

        return getattr(latency, name)
    raise AttributeError(name)
