"""Model families: declarative records of the diffusion transformers ECAD can cache."""

from __future__ import annotations

from ecad.errors import FamilyError
from ecad.families.family import BlockGroup, ModelFamily, Slot
from ecad.families.flux import FLUX_DEV
from ecad.families.flux2 import FLUX2_DEV
from ecad.families.pixart import PIXART_ALPHA, PIXART_SIGMA
from ecad.families.qwen_image import QWEN_IMAGE
from ecad.families.sd3 import SD35_LARGE

__all__ = ["FAMILIES", "BlockGroup", "ModelFamily", "Slot", "family_names", "get_family"]

FAMILIES: dict[str, ModelFamily] = {
    f.name: f
    for f in (PIXART_ALPHA, PIXART_SIGMA, FLUX_DEV, SD35_LARGE, QWEN_IMAGE, FLUX2_DEV)
}
_ALIASES = {alias.lower(): f.name for f in FAMILIES.values() for alias in (f.name, *f.aliases)}


def family_names() -> list[str]:
    return sorted(FAMILIES)


def get_family(name: str | ModelFamily) -> ModelFamily:
    """Look a family up by name or alias (case-insensitive)."""
    if isinstance(name, ModelFamily):
        return name
    key = _ALIASES.get(str(name).lower())
    if key is None:
        raise FamilyError(f"unknown model family {name!r}; choose one of {family_names()}")
    return FAMILIES[key]
