"""Load prompt sets from plain text (one prompt a line; DrawBench), the ImageReward benchmark
JSON (``[{"id", "prompt"}]``) and PartiPrompts TSV (column ``Prompt``)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path

from ecad.errors import ConfigError

__all__ = ["PromptSet", "load_prompts", "PROMPT_FORMATS"]

PROMPT_FORMATS = ("text", "json", "tsv")


@dataclass(frozen=True)
class PromptSet:
    """An ordered list of prompts with where they came from and a content digest."""

    prompts: tuple[str, ...]
    source: str = ""
    ids: tuple[str, ...] | None = None

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


def load_prompts(path: str | os.PathLike, fmt: str | None = None) -> PromptSet:
    """Load a prompt file; the format comes from the extension unless ``fmt`` is given.

    Blank prompts are dropped; a file with no prompt left is an error.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{p}: cannot read prompt file ({exc})") from exc
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
    return PromptSet(
        tuple(prompts[i].strip() for i in keep),
        source=str(p),
        ids=tuple(ids[i] for i in keep) if ids else None,
    )
