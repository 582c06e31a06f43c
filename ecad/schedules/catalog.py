"""Every heuristic by name: the paper's (reference names and parameters) and this project's.

A :class:`HeuristicCall` is a name plus integer parameters; it parses from the spec's item forms
``"name:v1:v2"`` (values in the heuristic's parameter order), ``"name:key=value:..."`` or a
mapping ``{name: ..., key: value}``, and builds its schedule for any layout.

Example:
    >>> from ecad.schedules import ScheduleLayout
    >>> from ecad.schedules.catalog import HeuristicCall
    >>> call = HeuristicCall.parse("evenly_cache_ff_evenly_spaced:steps=9:blocks=3")
    >>> call.build(ScheduleLayout.for_family("pixart-alpha"), 20).metadata.name
    'evenly_cache_ff_evenly_spaced-num_affected_steps9-num_affected_blocks3'
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ecad.errors import ConfigError
from ecad.schedules import heuristics as own
from ecad.schedules import published as paper
from ecad.schedules.layout import ScheduleLayout
from ecad.schedules.schedule import Schedule

__all__ = ["HEURISTIC_NAMES", "Heuristic", "HeuristicCall", "heuristic"]

_ALIASES = {"steps": "num_affected_steps", "blocks": "num_affected_blocks"}


@dataclass(frozen=True)
class Heuristic:
    """A named schedule generator.

    Attributes:
        name: the name a spec or ``ecad schedule make`` uses.
        params: parameter names (numbers), in positional order.
        build: ``build(layout, steps, seed, **params) -> Schedule``.
        kinds: family kinds it applies to; ``None``: every family (it selects slots by role or
            not at all).
        published: one of the paper's heuristics (reference name and placement).
        searchable: its schedule is a genome (true TGATE is not).
        requires: component roles the family must have (TGATE gates cross-attention, which
            SD3.5, Qwen-Image and FLUX.x lack: their attention is joint over image and text).
    """

    name: str
    params: tuple[str, ...]
    build: Callable[..., Schedule]
    kinds: tuple[str, ...] | None = None
    published: bool = True
    searchable: bool = True
    doc: str = ""
    requires: tuple[str, ...] = ()

    def applies_to(self, kind: str) -> bool:
        return self.kinds is None or kind in self.kinds

    @property
    def kinds_text(self) -> str:
        return "all families" if self.kinds is None else "/".join(self.kinds)


def _bits(fn: Callable[..., np.ndarray], name: str) -> Callable[..., Schedule]:
    def build(layout: ScheduleLayout, steps: int, seed: int, **params: int) -> Schedule:
        return paper.build_bits_schedule(layout, fn(layout, steps, **params), name, params)

    return build


def _every(components: tuple[str, ...] | None) -> Callable[..., np.ndarray]:
    def bits(layout: ScheduleLayout, steps: int, n: int) -> np.ndarray:
        return paper.recompute_every_n(layout, steps, n, components)

    return bits


def _evenly(placement: str, target: str) -> Callable[..., np.ndarray]:
    def bits(
        layout: ScheduleLayout, steps: int, num_affected_steps: int, num_affected_blocks: int
    ) -> np.ndarray:
        return paper.evenly_cache(
            layout, steps, placement, target, num_affected_steps, num_affected_blocks
        )

    return bits


#: Block placements of the evenly spaced kinds, per family kind (the paper placed PixArt's in the
#: middle too; every other kind spreads its blocks evenly).
_PLACEMENTS = {"pixart": ("middle", "evenly")}


def _published() -> list[Heuristic]:
    out = [
        Heuristic(
            "default",
            (),
            _bits(lambda layout, steps: paper.recompute_every_n(layout, steps, 1), "default"),
            doc="all true (no caching)",
        ),
        Heuristic(
            "recompute_all_every_n",
            ("n",),
            _bits(_every(None), "recompute_all_every_n"),
            doc="FORA: every component recomputed when step % n == 0",
        ),
        Heuristic(
            "recompute_ca_sa_every_n",
            ("n",),
            _bits(_every(("attn1", "attn2")), "recompute_ca_sa_every_n"),
            ("pixart",),
            doc="attn1 and attn2 every n, ff always",
        ),
        Heuristic(
            "recompute_attn_every_n",
            ("n",),
            _bits(_every(("full_attn", "single_attn")), "recompute_attn_every_n"),
            ("flux",),
            doc="attention every n, MLPs always",
        ),
        Heuristic(
            "tgate",
            ("m", "k"),
            lambda layout, steps, seed, m, k: paper.tgate(layout, steps, m, k, True),
            ("pixart",),
            searchable=False,
            doc="true TGATE: 2-step warm-up, attn1 every k before gate m, every step "
            "after; attn2 averaged over the guidance halves at m-1, guidance dropped",
            requires=("cross_attention",),
        ),
        Heuristic(
            "tgate_without_ca_avg",
            ("m", "k"),
            lambda layout, steps, seed, m, k: paper.tgate(layout, steps, m, k, False),
            paper.TGATE_KINDS,
            doc="tgate(m, k)'s booleans with plain caching",
            requires=("cross_attention",),
        ),
    ]
    # The evenly spaced kinds of every target a family kind names (published.CACHE_TARGETS):
    # PixArt's and FLUX's are the paper's; the newer families' reuse by role (attn, mlp).
    kinds_of: dict[tuple[str, str], list[str]] = {}
    for kind, targets in paper.CACHE_TARGETS.items():
        for placement in _PLACEMENTS.get(kind, ("evenly",)):
            for target in targets:
                kinds_of.setdefault((placement, target), []).append(kind)
    for (placement, target), kinds in kinds_of.items():
        name = f"{placement}_cache_{target}_evenly_spaced"
        out.append(
            Heuristic(
                name,
                ("num_affected_steps", "num_affected_blocks"),
                _bits(_evenly(placement, target), name),
                tuple(kinds),
                published=kinds[0] in ("pixart", "flux"),
                doc=f"reuse {target} at evenly spaced steps in {placement}-placed blocks",
            )
        )
    return out


def _own() -> list[Heuristic]:
    def wrap(fn: Callable[..., Schedule]) -> Callable[..., Schedule]:
        return lambda layout, steps, seed, **params: fn(layout, steps, **params)

    return [
        Heuristic("no-cache", (), wrap(own.no_cache), published=False),
        Heuristic("fora", ("n",), wrap(own.fora), published=False),
        Heuristic("attention-every", ("n",), wrap(own.attention_every), published=False),
        Heuristic(
            "cross-attn-gate",
            ("k", "m"),
            wrap(own.cross_attn_gate),
            published=False,
            doc="this project's TGATE-like shape: no warm-up, self-attention every k",
        ),
        Heuristic(
            "random",
            ("p_reuse",),
            lambda layout, steps, seed, p_reuse: own.random_schedule(layout, steps, p_reuse, seed),
            published=False,
            doc="each cell reused with probability p_reuse (seeded)",
        ),
    ]


_CATALOG: dict[str, Heuristic] = {h.name: h for h in _published() + _own()}
HEURISTIC_NAMES: tuple[str, ...] = tuple(_CATALOG)


def heuristic(name: str) -> Heuristic:
    try:
        return _CATALOG[name]
    except KeyError:
        raise ConfigError(
            f"unknown heuristic {name!r}; choose one of {list(HEURISTIC_NAMES)} "
            "(`ecad schedule kinds`)"
        ) from None


def _number(name: str, param: str, value: Any, params: tuple[str, ...]) -> int | float:
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            value = float(value) if any(c in value for c in ".eE") else int(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        form = ":".join([name, *params])
        raise ConfigError(f"{name}: {param} must be a number ({form}), got {value!r}")
    return value


@dataclass(frozen=True)
class HeuristicCall:
    """A heuristic name with its parameters (in the heuristic's order)."""

    name: str
    params: tuple[tuple[str, int | float], ...] = ()

    @classmethod
    def of(cls, name: str, **params: Any) -> HeuristicCall:
        h = heuristic(name)
        params = {_ALIASES.get(k, k): v for k, v in params.items()}
        unknown = sorted(set(params) - set(h.params))
        missing = [p for p in h.params if p not in params]
        if unknown or missing:
            raise ConfigError(
                f"{name}: parameters are {list(h.params)}"
                + (f"; unknown {unknown}" if unknown else "")
                + (f"; missing {missing}" if missing else "")
            )
        values = []
        for p in h.params:
            values.append((p, _number(name, p, params[p], h.params)))
        return cls(name, tuple(values))

    @classmethod
    def parse(cls, item: Any) -> HeuristicCall:
        """From ``"name:v1:v2"``, ``"name:key=value"`` or ``{name: ..., key: value}``."""
        if isinstance(item, Mapping):
            rest = dict(item)
            name = rest.pop("name", None)
            if not isinstance(name, str):
                raise ConfigError(f"heuristic {item!r}: a mapping needs 'name'")
            return cls._of_item(item, name, rest)
        if not isinstance(item, str) or not item:
            raise ConfigError(f"heuristic {item!r}: use 'name:value:...' or {{name: ..., ...}}")
        name, *args = item.split(":")
        try:
            h = heuristic(name)
        except ConfigError as exc:
            raise ConfigError(f"{item!r}: {exc}") from None
        keyed = dict(a.split("=", 1) for a in args if "=" in a)
        positional = [a for a in args if "=" not in a]
        if keyed and positional:
            raise ConfigError(f"heuristic {item!r}: give all values by position or all by name")
        if len(positional) != len(h.params) and not keyed:
            form = ":".join([name, *h.params])
            raise ConfigError(
                f"{item!r}: {name} takes {len(h.params)} argument(s): {form}, "
                f"got {len(positional)}"
            )
        return cls._of_item(item, name, keyed or dict(zip(h.params, positional)))

    @classmethod
    def _of_item(cls, item: Any, name: str, params: dict[str, Any]) -> HeuristicCall:
        try:
            return cls.of(name, **params)
        except ConfigError as exc:  # name the item as the user wrote it
            raise ConfigError(f"{item!r}: {exc}") from None

    @property
    def heuristic(self) -> Heuristic:
        return heuristic(self.name)

    def build(self, layout: ScheduleLayout, steps: int, seed: int = 0) -> Schedule:
        h = self.heuristic
        # The paper's heuristics name their families' kinds; this project's own select by role,
        # so they apply to every family, derived ones included.
        missing = [r for r in h.requires if not layout.family.components_with_role(r)]
        if missing:
            raise ConfigError(
                f"heuristic {self.name} needs a {' and '.join(missing).replace('_', '-')} "
                f"component; {layout.family_name} has none (its attention is joint over image "
                "and text): use fora, attention-every or an evenly spaced heuristic"
            )
        if not h.applies_to(layout.family.kind):
            raise ConfigError(
                f"heuristic {self.name} applies to {h.kinds_text} families, not "
                f"{layout.family_name}"
            )
        return h.build(layout, steps, seed, **dict(self.params))

    def __str__(self) -> str:
        return ":".join([self.name, *(str(v) for _, v in self.params)])
