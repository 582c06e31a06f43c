"""The ``prompts`` section: a prompt file (or a shipped set) or a named, digest-pinned set; the
texts themselves go into the resolved spec."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ecad.errors import ConfigError
from ecad.search.spec.fields import _Errors, _int, _resolve_path
from ecad.search.validation import MAX_PROMPT_FILE_BYTES


def _prompts(section: dict, errors: _Errors, base: Path) -> dict[str, Any]:
    from ecad.prompts import load_prompts
    from ecad.resources import resolve_prompt_file

    path = section.get("file")
    limit = section.get("limit")
    if limit is not None:
        limit = _int(section, "limit", errors, None, 1, where="prompts.")
    if "set" in section:
        return _named_prompts(section, limit, errors, base)
    if not isinstance(path, str):
        errors.add("prompts.file", f"must be a prompt file path, got {path!r}")
        return {"file": path, "limit": limit}
    resolved = resolve_prompt_file(path, base)  # a file, or a shipped set (calibration-100)
    if not Path(resolved).exists():
        from ecad.resources import shipped

        where = "" if Path(os.path.expanduser(path)).is_absolute() else (
            f" (a relative path is read from the spec's directory, {base})")
        errors.add("prompts.file", f"{path!r}: no such file{where}; give a prompt file or a "
                   f"shipped prompt set's name: {', '.join(shipped('prompts'))}")
        return {"file": resolved, "limit": limit}
    if Path(resolved).is_file() and Path(resolved).stat().st_size > MAX_PROMPT_FILE_BYTES:
        errors.add("prompts.file", f"{resolved} is larger than {MAX_PROMPT_FILE_BYTES} bytes")
        return {"file": resolved, "limit": limit}
    if Path(resolved).exists() and not Path(resolved).is_file():
        errors.add("prompts.file", f"{resolved} is not a regular file")
        return {"file": resolved, "limit": limit}
    try:
        prompt_set = load_prompts(resolved, section.get("format"))
    except ConfigError as exc:
        errors.add("prompts.file", str(exc))
        return {"file": resolved, "limit": limit}
    prompts = list(prompt_set.prompts)[:limit] if limit else list(prompt_set.prompts)
    # The prompts themselves go into the resolved spec: the search no longer depends on the file.
    return {"file": resolved, "limit": limit, "texts": prompts}


def _named_prompts(section: dict, limit: int | None, errors: _Errors, base: Path) -> dict:
    """``prompts: {set: NAME, file: PATH}``: a named, digest-pinned set (file optional: the
    set's environment variable names it otherwise)."""
    from ecad.prompts.named import load_named_prompts

    name, path = section["set"], section.get("file")
    unknown = sorted(set(section) - {"set", "file", "limit"})
    if unknown:
        errors.add("prompts", f"unknown key(s) {unknown} beside 'set'; allowed: file, limit")
    resolved = _resolve_path(path, base) if isinstance(path, str) else None
    try:
        prompt_set = load_named_prompts(str(name), resolved)
    except ConfigError as exc:
        errors.add("prompts.set", str(exc))
        return {"file": resolved, "limit": limit, "set": name}
    texts = list(prompt_set.prompts)[:limit] if limit else list(prompt_set.prompts)
    # No file path: the set's name and digest-checked texts identify it on every machine.
    return {"file": None, "limit": limit, "texts": texts, "set": name}
