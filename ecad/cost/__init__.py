"""Cost model: per-slot, per-step cost tables and schedule costs.

``CostTable`` needs only numpy; ``macs_table`` (FlopCounterMode) imports torch on first use, so
torch-free processes (the scheduler) can read and apply stored tables. Latency tables are
measured by ``ecad.bench.latency`` (calibration is measurement) and stored as cost tables.
"""

from typing import Any

from ecad.cost.table import COST_MODES, CostTable

__all__ = ["COST_MODES", "CostTable", "macs_table"]


def __getattr__(name: str) -> Any:
    if name == "macs_table":
        from ecad.cost.flops import macs_table

        return macs_table
    raise AttributeError(name)
