"""Input checks of a search spec beyond types: names, bounds, weights, heuristic items.

``parse_spec`` calls these while it reads a spec, so ``ecad validate``, ``ecad submit`` and
``ecad search`` run the same checks and report every problem at once. Each check returns an
error message (``None`` when fine) naming the rule, so the caller adds the field name.

Bounds (:data:`LIMITS`) keep one spec from asking the scheduler or a worker for more than a
machine has: they sit one to two orders of magnitude above the published ECAD settings
(population 72, 10 images per prompt, 100 prompts, 20 steps, about 550 generations).
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ecad.errors import ConfigError
from ecad.families import FAMILIES, ModelFamily
from ecad.schedules.catalog import HeuristicCall
from ecad.schedules.layout import ScheduleLayout

__all__ = [
    "LIMITS",
    "MAX_NAME_LENGTH",
    "MAX_PROMPT_FILE_BYTES",
    "MAX_PROMPT_PAIRS",
    "MAX_SPEC_BYTES",
    "check_name",
    "check_search_id",
    "check_weights",
    "guidance_error",
    "heuristic_item_error",
    "limit_error",
    "name_from_file",
    "num_blocks_error",
    "parse_heuristic",
    "prompt_length_error",
    "resolve_local_weights",
]

#: Longest search name; the search id adds ``-`` and 10 hex digits.
MAX_NAME_LENGTH = 64
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?\Z")

#: Largest value of each bounded integer field, and why.
LIMITS: dict[str, int] = {
    "resolution": 4096,
    "steps": 1000,
    "images_per_prompt": 100,
    "population": 1000,
    "generations": 100_000,
    "shard_size": 1000,
    "batch_size": 256,
    "min_diff": 1_000_000,
    "seed": 2**32 - 1,
    "image_seed": 2**31 - 1,
    "cost.batch": 256,
    "crossover.points": 10_000,
}
#: Most (prompt, image) pairs one candidate may need (prompts x images per prompt).
MAX_PROMPT_PAIRS = 100_000
#: Largest prompt file read.
MAX_PROMPT_FILE_BYTES = 64 << 20
#: Characters one text-encoder token can stand for, at most (T5's longest vocabulary pieces are
#: 16 characters): a prompt longer than this many per token the encoder reads is cut off there.
MAX_CHARS_PER_TOKEN = 16
#: Largest resolved spec (prompt texts included; it is stored and read by every worker).
MAX_SPEC_BYTES = 8 << 20
MAX_GUIDANCE = 100.0


def limit_error(field_name: str, value: Any) -> str | None:
    """``must be <= MAX`` for an integer above its field's bound, else ``None``."""
    maximum = LIMITS.get(field_name)
    if maximum is None or isinstance(value, bool) or not isinstance(value, int):
        return None
    if value > maximum:
        return f"must be <= {maximum} (the limit for this field), got {value}"
    return None


def guidance_error(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"must be a number >= 0, got {value!r}"
    if not math.isfinite(value) or not 0 <= value <= MAX_GUIDANCE:
        return f"must be a number in [0, {MAX_GUIDANCE:g}], got {value!r}"
    return None


def check_name(value: Any) -> str | None:
    """A search name is a slug: letters, digits, ``_ . -``; starts with a letter or digit."""
    if not isinstance(value, str) or not value:
        return f"must be a non-empty string, got {value!r}"
    if len(value) > MAX_NAME_LENGTH:
        return f"too long ({len(value)} characters; the limit is {MAX_NAME_LENGTH})"
    if not _NAME.fullmatch(value):
        return (
            f"{value!r} is not a safe name: use letters, digits, '_', '.' and '-', starting "
            "with a letter or digit (no '/', no spaces)"
        )
    return None


def check_search_id(value: Any) -> str | None:
    """A search id is a name plus ``-`` and 10 hex digits: the same slug rule, 11 more characters.

    Whether the search exists is checked against the store when the search is created.
    """
    if not isinstance(value, str) or not value:
        return f"must be a search id (see ecad status), got {value!r}"
    if len(value) > MAX_NAME_LENGTH + 11:
        return f"too long ({len(value)} characters; a search id has at most {MAX_NAME_LENGTH + 11})"
    if not _NAME.fullmatch(value):
        return f"{value!r} is not a search id (see ecad status): no '/', spaces or leading '.'"
    return None


def name_from_file(source: str) -> str:
    """The default search name: the spec file's stem made into a valid slug."""
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", Path(source).stem).strip("-._")
    return stem[:MAX_NAME_LENGTH] or "search"


def parse_heuristic(item: Any) -> tuple[str, list[int | float]]:
    """``"fora:3"`` -> ``("fora", [3])``, for any heuristic of :mod:`ecad.schedules.catalog`;
    :class:`ConfigError` naming the expected form."""
    call = HeuristicCall.parse(item)
    return call.name, [v for _, v in call.params]


def heuristic_item_error(
    item: Any,
    steps: int,
    family: ModelFamily | None = None,
    num_blocks: Mapping[str, int] | None = None,
) -> str | None:
    """Why ``item`` is not a usable heuristic seed for a search of ``steps`` steps: it does not
    parse, it is true TGATE (no genome), or building it for the family's layout fails."""
    try:
        call = HeuristicCall.parse(item)
    except ConfigError as exc:
        return str(exc)
    if not call.heuristic.searchable:
        return (
            f"{item!r}: {call.name} is true TGATE (cross-attention averaged over the guidance "
            "halves, guidance dropped after the gate): not a genome, so it cannot seed a "
            "search; use tgate_without_ca_avg with the same m and k (the paper's seeds did)"
        )
    if family is not None:
        families = [family]
    else:  # no family given: the first one the heuristic applies to
        families = [next(f for f in FAMILIES.values() if call.heuristic.applies_to(f.kind))]
    for fam in families:
        try:
            call.build(ScheduleLayout.for_family(fam, num_blocks), steps)
        except ConfigError as exc:
            return f"{item!r}: {exc}"
    return None


def num_blocks_error(family: ModelFamily, value: Any) -> str | None:
    """``num_blocks`` maps the family's block groups to counts in 1..the full model's count."""
    groups = {g.name: g.num_blocks for g in family.block_groups}
    example = ", ".join(f"{g}: 2" for g in groups)
    if not isinstance(value, dict) or not value:
        return f"must map block group to a count, e.g. {{{example}}}"
    for group, count in value.items():
        if group not in groups:
            return f"{family.name} has no block group {group!r}; groups are {list(groups)}"
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= groups[group]:
            return (
                f"{group}: must be a count in 1..{groups[group]} ({family.name}'s full model), "
                f"got {count!r}"
            )
    return None


def check_weights(family: ModelFamily, weights: str, local: Path | None) -> str | None:
    """A local weights directory must be a diffusers pipeline of ``family``; anything else must
    look like a hub id (``org/name``). ``local`` is the resolved path when the value names one.

    The hub itself is not asked (workers may be the only machines that reach it).
    """
    if local is None:
        if _HUB_ID.match(weights):
            return None
        return (
            f"{weights!r} is neither an existing directory nor a hub id like "
            f"{family.default_weights!r}"
        )
    if not local.is_dir():
        return f"directory {local} does not exist (a local pipeline directory or a hub id)"
    index = local / "model_index.json"
    if not index.is_file():
        return (
            f"{local} has no model_index.json: give a diffusers pipeline directory "
            "(save_pretrained output) or a hub id"
        )
    config_file = local / "transformer" / "config.json"
    try:
        config = json.loads(config_file.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return f"{config_file}: cannot read the transformer config ({exc})"
    found = config.get("_class_name") if isinstance(config, dict) else None
    if found != family.transformer_class:
        return (
            f"{local} holds a {found or 'unknown'} transformer, not {family.name}'s "
            f"{family.transformer_class}"
        )
    return None


def resolve_local_weights(weights: str, base: Path) -> Path | None:
    """The directory ``weights`` names, or ``None`` when it is a hub id.

    A value starting with ``/``, ``.`` or ``~``, or a relative path that exists, is local.
    """
    expanded = Path(os.path.expanduser(weights))
    path = expanded if expanded.is_absolute() else (base / expanded).resolve()
    if weights.startswith(("/", ".", "~")) or path.exists():
        return path
    return None


def prompt_length_error(texts: Any, family: Any) -> str | None:
    """Why a prompt is too long for ``family``'s text encoders to read, else ``None``."""
    tokens = getattr(family, "max_sequence_length", 512)
    limit = tokens * MAX_CHARS_PER_TOKEN
    for n, text in enumerate(texts if isinstance(texts, list) else []):
        if isinstance(text, str) and len(text) > limit:
            return (f"prompt {n + 1} ({text[:30]!r}...) is {len(text)} characters; the limit is "
                    f"{limit}: {getattr(family, 'name', 'the')} text encoders read at most "
                    f"{tokens} tokens and cut the rest off, so a longer prompt changes nothing; "
                    "shorten it")
    return None
