"""Model families: declarative records of the diffusion transformers ECAD can cache."""

from __future__ import annotations

from pathlib import Path

from ecad.errors import FamilyError
from ecad.families.builtin import _ALIASES, FAMILIES
from ecad.families.family import ROLES, BlockGroup, ModelFamily, Slot

__all__ = [
    "FAMILIES",
    "ROLES",
    "BlockGroup",
    "ModelFamily",
    "Slot",
    "derived_families",
    "family_names",
    "get_family",
    "register_family",
]

#: Derived families loaded in this process, by id (``name@digest``: content-addressed, so two
#: records never compete for one id).
_DERIVED: dict[str, ModelFamily] = {}


def family_names() -> list[str]:
    return sorted(FAMILIES)


def derived_families() -> list[ModelFamily]:
    """The derived families loaded in this process."""
    return list(_DERIVED.values())


def register_family(family: ModelFamily) -> ModelFamily:
    """Make a derived family known to :func:`get_family` by its id (idempotent)."""
    if not family.derived:
        raise FamilyError(f"{family.name} is built in; only derived families are registered")
    return _DERIVED.setdefault(family.name, family)


def get_family(name: str | ModelFamily, base_dir: str | Path | None = None) -> ModelFamily:
    """Look a family up by name or alias (case-insensitive), by derived id (``name@digest``),
    or read a record file (``./families/my-model.yaml``; a relative path is resolved against
    ``base_dir``, default the working directory). A derived family's bare name works once its
    file was read in this process, if one record of that name was."""
    if isinstance(name, ModelFamily):
        return name
    text = str(name)
    key = _ALIASES.get(text.lower())
    if key is not None:
        return FAMILIES[key]
    if text in _DERIVED:
        return _DERIVED[text]
    from ecad.families.record import is_record_path, read_record_file

    if is_record_path(text):
        path = Path(text).expanduser()
        if not path.is_absolute() and base_dir is not None:
            path = Path(base_dir) / path
        return register_family(read_record_file(path))
    same = [f for f in _DERIVED.values() if text in f.aliases]
    if len(same) == 1:
        return same[0]
    if len(same) > 1:
        raise FamilyError(
            f"family name {text!r} is ambiguous: records {[f.name for f in same]} are loaded; "
            "name the record by its id or file"
        )
    raise FamilyError(
        f"unknown model family {text!r}; choose one of {family_names()}, or name a family "
        "record file (ecad family derive writes one)"
    )
