"""Load prompt sets from plain text (one prompt a line; DrawBench), the ImageReward benchmark
JSON (``[{"id", "prompt"}]``) and PartiPrompts TSV (column ``Prompt``).

Duplicates: a prompt repeated in one file would be generated and scored twice and weigh twice in
every mean, so by default only its first occurrence is kept and the number dropped is logged and
kept in :attr:`PromptSet.duplicates_removed` (``duplicates="keep"`` keeps them, ``"error"``
refuses the file). A file whose prompts are all one repeated prompt is always an error: it is
almost surely a broken export, not a prompt set.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from ecad.errors import ConfigError

__all__ = ["DUPLICATE_POLICIES", "PROMPT_FORMATS", "PromptSet", "load_prompts"]

PROMPT_FORMATS = ("text", "json", "tsv")
DUPLICATE_POLICIES = ("drop", "keep", "error")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PromptSet:
    """An ordered list of prompts with where they came from and a content digest."""

    prompts: tuple[str, ...]
    source: str = ""
    ids: tuple[str, ...] | None = None
    duplicates_removed: int = 0

    def digest(self) -> str:
        """sha256 over the prompts in order (source path and ids do not matter)."""
        return hashlib.sha256(json.dumps(list(self.prompts)).encode()).hexdigest()

    def __len__(self) -> int:
        return len(self.prompts)


def _format_of(path: Path, fmt: str | None) -> str:
    if fmt:
        if fmt not in PROMPT_FORMATS:
            raise ConfigError(f"prompt format {fmt!r} unknown; choose one of {PROMPT_FORMATS}")
        return fmt
    suffix = path.suffix.lower()
    return {".json": "json", ".tsv": "tsv"}.get(suffix, "text")


def _from_json(text: str, where: str) -> tuple[list[str], list[str] | None]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{where}: invalid JSON at line {exc.lineno}: {exc.msg}") from exc
    if not isinstance(data, list):
        raise ConfigError(f'{where}: expected a JSON list of {{"id", "prompt"}} objects or strings')
    prompts, ids = [], []
    for n, item in enumerate(data):
        if isinstance(item, str):
            prompts.append(item)
            ids.append(str(n))
        elif isinstance(item, dict) and isinstance(item.get("prompt"), str):
            prompts.append(item["prompt"])
            ids.append(str(item.get("id", n)))
        else:
            raise ConfigError(f"{where}: item {n} has no string field 'prompt'")
    return prompts, ids


def _from_tsv(text: str, where: str) -> list[str]:
    reader = csv.DictReader(io.StringIO(text), delimiter="\t")
    if not reader.fieldnames or "Prompt" not in reader.fieldnames:
        raise ConfigError(f"{where}: TSV needs a 'Prompt' column, found {reader.fieldnames}")
    return [row["Prompt"] or "" for row in reader]


def _deduplicate(
    prompts: list[str], ids: list[str] | None, where: str, policy: str
) -> tuple[list[str], list[str] | None, int]:
    """Keep the first occurrence of each prompt (compared after stripping), per ``policy``."""
    first: dict[str, int] = {}
    for n, q in enumerate(prompts):
        first.setdefault(q, n)
    dropped = len(prompts) - len(first)
    if dropped and len(first) == 1:
        raise ConfigError(
            f"{where}: all {len(prompts)} prompts are the same prompt {prompts[0][:60]!r}; a "
            "prompt set needs distinct prompts (use --num-images-per-prompt for repeats)"
        )
    if not dropped or policy == "keep":
        return prompts, ids, 0
    if policy == "error":
        dupes = sorted({q for n, q in enumerate(prompts) if first[q] != n})
        raise ConfigError(
            f"{where}: {dropped} duplicate prompt(s), e.g. {dupes[0][:60]!r}; remove them or "
            "load with duplicates='drop'"
        )
    keep = sorted(first.values())
    log.warning("%s: dropped %d duplicate prompt(s), kept %d", where, dropped, len(keep))
    return [prompts[n] for n in keep], [ids[n] for n in keep] if ids else None, dropped


def load_prompts(
    path: str | os.PathLike, fmt: str | None = None, *, duplicates: str = "drop"
) -> PromptSet:
    """Load a prompt file; the format comes from the extension unless ``fmt`` is given.

    Prompts are stripped and blank ones dropped; a file with no prompt left, or whose prompts
    are all one repeated prompt, is an error. Repeated prompts are handled per ``duplicates``
    (``"drop"``: keep the first, ``"keep"``, or ``"error"``).

    >>> ps = load_prompts("prompts/calibration-100.txt")  # doctest: +SKIP
    >>> len(ps), ps.digest()[:12]  # doctest: +SKIP
    """
    if duplicates not in DUPLICATE_POLICIES:
        raise ConfigError(f"duplicates={duplicates!r} unknown; choose one of {DUPLICATE_POLICIES}")
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{p}: cannot read prompt file as UTF-8 text ({exc})") from exc
    kind = _format_of(p, fmt)
    ids: list[str] | None = None
    if kind == "json":
        prompts, ids = _from_json(text, str(p))
    elif kind == "tsv":
        prompts = _from_tsv(text, str(p))
    else:
        prompts = text.splitlines()
    keep = [i for i, q in enumerate(prompts) if q.strip()]
    if not keep:
        raise ConfigError(f"{p}: no prompts found (file is empty or only blank lines)")
    stripped = [prompts[i].strip() for i in keep]
    kept_ids = [ids[i] for i in keep] if ids else None
    stripped, kept_ids, dropped = _deduplicate(stripped, kept_ids, str(p), duplicates)
    return PromptSet(
        tuple(stripped),
        source=str(p),
        ids=tuple(kept_ids) if kept_ids else None,
        duplicates_removed=dropped,
    )
