"""Shipped specs, prompt sets and baseline schedules, by name (``importlib.resources``).

``ecad search tiny``, ``prompts: calibration-100`` in a spec and ``ecad schedule show
pixart-alpha/fora-2`` work from a checkout and from an installed wheel alike (see
:mod:`ecad._data`). A name is the file's path under its directory without the extension.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

from ecad.errors import ConfigError

__all__ = ["DATA_KINDS", "data_dir", "find_prompt_set", "find_schedule", "find_spec",
           "resolve_prompt_file", "shipped"]

DATA_KINDS = {
    "specs": (".yaml", ".yml"),
    "prompts": (".txt", ".json", ".tsv"),
    "schedules": (".json",),
}


def data_dir(kind: str) -> Path:
    """The directory of shipped ``kind`` files (a real directory: wheels install unzipped)."""
    if kind not in DATA_KINDS:
        raise ValueError(f"unknown data kind {kind!r}; one of {sorted(DATA_KINDS)}")
    root = resources.files(f"ecad._data.{kind}")
    if isinstance(root, Path):
        return root
    # A namespace package (no __init__.py among data files): its entries are real paths.
    child = next(iter(root.iterdir()), None)
    if not isinstance(child, Path):
        raise ConfigError(f"shipped {kind} not found in {root}; reinstall ecad-cluster")
    return child.parent


def shipped(kind: str) -> dict[str, Path]:
    """Name -> file of every shipped ``kind`` file, sorted by name."""
    base = data_dir(kind)
    found = {}
    for path in sorted(base.rglob("*")):
        if path.suffix in DATA_KINDS[kind] and path.is_file():
            found[path.relative_to(base).with_suffix("").as_posix()] = path
    return found


def _find(kind: str, name: str) -> Path | None:
    return shipped(kind).get(name.removesuffix(Path(name).suffix) if Path(name).suffix in
                             DATA_KINDS[kind] else name)


def find_spec(value: str | os.PathLike) -> Path | None:
    """A spec file that exists, else the shipped spec of that name, else None."""
    path = Path(value)
    if path.is_file():
        return path
    return _find("specs", str(value))


def find_schedule(value: str | os.PathLike) -> Path | None:
    path = Path(value)
    if path.is_file():
        return path
    return _find("schedules", str(value))


def find_prompt_set(name: str) -> Path | None:
    return _find("prompts", name)


def resolve_prompt_file(value: str, base: Path) -> str:
    """A spec's ``prompts`` entry: a file (relative to the spec's directory) or a shipped
    prompt set's name (``calibration-100``). Neither: the file path, whose loading then fails
    with the spec's other errors."""
    path = Path(os.path.expanduser(value))
    path = path if path.is_absolute() else (base / path).resolve()
    named = None if path.exists() else find_prompt_set(value)
    return str(named or path)
