"""The built-in families, by name and by alias: a module of its own so that the record reader
(which refuses a built-in name) need not import the package that reads records."""

from __future__ import annotations

from ecad.families.family import ModelFamily
from ecad.families.flux import FLUX_DEV
from ecad.families.flux2 import FLUX2_DEV
from ecad.families.pixart import PIXART_ALPHA, PIXART_SIGMA
from ecad.families.qwen_image import QWEN_IMAGE
from ecad.families.sd3 import SD35_LARGE
from ecad.families.wan import WAN21_T2V_1_3B, WAN21_T2V_14B, WAN22_T2V_A14B

__all__ = ["FAMILIES"]

FAMILIES: dict[str, ModelFamily] = {
    f.name: f
    for f in (
        PIXART_ALPHA,
        PIXART_SIGMA,
        FLUX_DEV,
        SD35_LARGE,
        QWEN_IMAGE,
        FLUX2_DEV,
        WAN21_T2V_1_3B,
        WAN21_T2V_14B,
        WAN22_T2V_A14B,
    )
}
#: Every name and alias (lower case) -> the family's name.
_ALIASES = {alias.lower(): f.name for f in FAMILIES.values() for alias in (f.name, *f.aliases)}
