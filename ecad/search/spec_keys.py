"""The keys a search spec may hold, per section, and the message for one it may not.

An unknown key is refused, never kept: ``quality.metirc=ssim`` would otherwise change the search
id and leave the metric at its default, silently. The message names the nearest known key.
Scorer options are the scorer classes' keyword arguments except ``device`` (the worker's);
``tests/search/test_spec_keys.py`` holds this table to the classes' signatures.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["COST_KEYS", "QUALITY_KEYS", "SCORER_OPTIONS", "SECTION_KEYS", "unknown_keys"]

QUALITY_KEYS = ("scorer", "metric", "hv_reference")
#: Spec scorer -> the options its scorer class takes (``quality.<option>``).
SCORER_OPTIONS: Mapping[str, tuple[str, ...]] = {
    "fidelity": ("lpips_backbone", "batch_size"),
    "image-reward": ("checkpoint", "med_config", "tokenizer", "batch_size", "dtype", "workers",
                     "vision_heads", "cache_dir", "tf32"),
    "clip": ("model", "batch_size", "clamp"),
}
COST_KEYS = ("mode", "batch", "table", "text_tokens")
SECTION_KEYS: Mapping[str, tuple[str, ...]] = {
    "cost": COST_KEYS,
    "crossover": ("points", "prob"),
    "mutation": ("individual_prob", "bit_prob"),
    "prompts": ("file", "limit", "format", "set"),
}


def quality_keys(scorer: Any) -> tuple[str, ...]:
    """The keys of a ``quality`` section for ``scorer`` (``metric`` only for fidelity)."""
    keys = tuple(k for k in QUALITY_KEYS if k != "metric" or scorer == "fidelity")
    return keys + SCORER_OPTIONS.get(scorer, ())


def unknown_keys(where: str, data: Mapping[str, Any], known: Iterable[str]) -> list[str]:
    """One ``<where><key>: unknown ...`` message per key of ``data`` not in ``known``."""
    known = sorted(known)
    out = []
    for key in sorted(map(str, set(data) - set(known))):
        near = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
        hint = f"did you mean {near[0]!r}? " if near else ""
        out.append(f"{where}{key}: unknown field; {hint}allowed: {', '.join(known)}")
    return out
