"""The caching engine: apply a schedule to a diffusers pipeline or transformer."""

from ecad.caching.hooks import ScheduleCacheConfig, apply_schedule, cache_stats, remove_schedule

__all__ = ["ScheduleCacheConfig", "apply_schedule", "cache_stats", "remove_schedule"]
