"""One cache at a time: an ECAD schedule and diffusers' own caches (First Block Cache, FasterCache,
Pyramid Attention Broadcast, MagCache, SeaCache, TaylorSeer, text KV cache) must not stack.

Both would reuse outputs on the same modules, each unaware of the other, so a reused output
could come from a step the other cache skipped. :func:`apply_schedule` refuses while another cache
is active, and marks the transformer as cached (diffusers' ``_cache_config``) so that
``enable_cache`` refuses in turn; :func:`remove_schedule` clears only its own mark and hooks.
"""

from __future__ import annotations

from typing import Any

from ecad.caching.config import ScheduleCacheConfig
from ecad.errors import ConfigError

__all__ = ["mark_cached", "other_caches", "refuse_other_caches", "unmark_cached"]

# Hook names (prefixes) that diffusers' cache techniques register (diffusers.hooks.*).
DIFFUSERS_CACHE_HOOKS = (
    "faster_cache",
    "fbc_",
    "mag_cache",
    "pyramid_attention_broadcast",
    "sea_cache",
    "taylorseer_cache",
    "text_kv_cache",
)


def _ours(config: Any) -> bool:
    return isinstance(config, ScheduleCacheConfig)


def other_caches(transformer: Any) -> list[str]:
    """The caches other than an ECAD schedule active on ``transformer``, by name."""
    found = set()
    config = getattr(transformer, "_cache_config", None)
    if config is not None and not _ours(config):
        found.add(type(config).__name__)
    for _, module in transformer.named_modules():
        for hook in getattr(getattr(module, "_diffusers_hook", None), "hooks", {}):
            if hook.startswith(DIFFUSERS_CACHE_HOOKS):
                found.add(f"hook {hook!r}")
    return sorted(found)


def refuse_other_caches(transformer: Any) -> None:
    found = other_caches(transformer)
    if found:
        raise ConfigError(
            f"cannot apply an ECAD schedule: another cache is active on this "
            f"{type(transformer).__name__} ({', '.join(found)}); the two would reuse each "
            "other's outputs. Disable it first (transformer.disable_cache())."
        )


def mark_cached(transformer: Any, config: Any) -> None:
    """Make diffusers' ``enable_cache`` see a cache (it refuses to stack a second one)."""
    transformer._cache_config = config


def unmark_cached(transformer: Any) -> None:
    if _ours(getattr(transformer, "_cache_config", None)):
        transformer._cache_config = None
