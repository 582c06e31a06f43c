"""The caching engine: apply a schedule to a diffusers pipeline or transformer."""

from ecad.caching.compiled import COMPILE_MODES
from ecad.caching.hooks import (
    ScheduleCacheConfig,
    apply_schedule,
    cache_stats,
    compile_stats,
    remove_schedule,
)

__all__ = [
    "COMPILE_MODES",
    "ScheduleCacheConfig",
    "apply_schedule",
    "cache_stats",
    "compile_stats",
    "remove_schedule",
]
