"""Cost model: per-slot, per-step cost tables and schedule costs."""

from ecad.cost.flops import macs_table
from ecad.cost.table import COST_MODES, CostTable

__all__ = ["COST_MODES", "CostTable", "macs_table"]
