"""The paper's published seed populations, built from the published generators.

PixArt-α 256 (also used for PixArt-Σ): 72 candidates (METHOD.md §3). Evenly spaced kinds are
listed as (blocks, steps), TGATE as (m, k), as in the published list. FLUX 256: the unperturbed
sources of the published 24 (default and FORA n = 2..7); the reference's 13 perturbed copies
came from a random perturbation that is not reproducible from its files.
"""

from __future__ import annotations

from ecad.errors import ConfigError
from ecad.schedules.catalog import HeuristicCall
from ecad.schedules.layout import ScheduleLayout
from ecad.schedules.schedule import Schedule

__all__ = ["PAPER_SEEDS", "paper_seed_calls", "paper_seed_population"]

_EVENLY_PIXART = {
    "evenly_cache_ca_evenly_spaced": [(25, 15), (25, 17), (25, 19), (27, 13), (27, 15), (27, 17),
                                      (27, 19)],
    "evenly_cache_ff_evenly_spaced": [(3, 9), (7, 9), (11, 9), (15, 7), (15, 9), (15, 11),
                                      (15, 13), (15, 15), (17, 9), (17, 13), (17, 15), (19, 15),
                                      (21, 13), (21, 15), (21, 17), (27, 15), (27, 17), (27, 19)],
    "evenly_cache_sa_evenly_spaced": [(3, 3), (19, 5), (21, 3), (21, 7), (23, 7), (23, 9),
                                      (25, 3), (25, 5), (25, 7), (25, 9), (25, 17), (25, 19),
                                      (27, 3), (27, 5), (27, 7), (27, 11), (27, 13), (27, 15),
                                      (27, 17), (27, 19)],
}  # fmt: skip
_TGATE_PIXART = [(10, 1), (12, 1), (12, 3), (12, 5), (12, 7), (14, 1), (14, 5), (14, 7), (16, 9),
                 (18, 7), (18, 11), (20, 7), (20, 11)]  # fmt: skip


def _pixart() -> tuple[HeuristicCall, ...]:
    calls = [HeuristicCall.of("default")]
    for name, pairs in _EVENLY_PIXART.items():
        calls += [
            HeuristicCall.of(name, num_affected_steps=s, num_affected_blocks=b) for b, s in pairs
        ]
    calls += [HeuristicCall.of("recompute_all_every_n", n=n) for n in (2, 3, 4, 5, 7, 10, 20)]
    calls += [HeuristicCall.of("recompute_ca_sa_every_n", n=n) for n in (2, 4, 5, 7, 10, 20)]
    calls += [HeuristicCall.of("tgate_without_ca_avg", m=m, k=k) for m, k in _TGATE_PIXART]
    return tuple(calls)


def _flux() -> tuple[HeuristicCall, ...]:
    fora = [HeuristicCall.of("recompute_all_every_n", n=n) for n in range(2, 8)]
    return (HeuristicCall.of("default"), *fora)


#: The published seed populations' generator calls, by family kind.
PAPER_SEEDS: dict[str, tuple[HeuristicCall, ...]] = {"pixart": _pixart(), "flux": _flux()}


def paper_seed_calls(layout: ScheduleLayout) -> tuple[HeuristicCall, ...]:
    try:
        return PAPER_SEEDS[layout.family.kind]
    except KeyError:
        raise ConfigError(f"no published seed population for {layout.family_name}") from None


def paper_seed_population(layout: ScheduleLayout, steps: int) -> list[Schedule]:
    """The published seed population for ``layout``'s family, in the list's order."""
    return [call.build(layout, steps) for call in paper_seed_calls(layout)]
