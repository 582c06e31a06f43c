"""The ``initial_population`` section: random, the paper's seeds, heuristics, a schedules
directory or another search's front."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ecad.schedules.catalog import HeuristicCall
from ecad.schedules.paper import PAPER_SEEDS
from ecad.search.spec.fields import _Errors, _resolve_path
from ecad.search.spec.sections import PLACEHOLDER, _span
from ecad.search.validation import check_search_id, heuristic_item_error


def _placeholder_error(value: str) -> str:
    """One line saying how to fill in a shipped spec's placeholder search id."""
    spec = value.split(PLACEHOLDER)[0].rstrip("-") or "the source spec"
    return (
        f"{value!r} is a placeholder: give the id `ecad search` printed for the {spec!r} "
        f"search, e.g. `initial_population.from_search={spec}-<digest>` after the spec on the "
        "command line, or in a copy of the spec (`ecad status` lists stored ids)"
    )


def _initial(
    value: Any, errors: _Errors, base: Path, family: Any, steps: Any, num_blocks: Any
) -> dict[str, Any]:
    name = "initial_population"
    shapes = (
        "must be 'random', 'paper' or one of {heuristics: [...]}, {schedules_dir: DIR}, "
        "{from_search: ID} (optionally with generations: [first, last]), {paper: true}, "
        "optionally with truncate: true"
    )
    if value in ("random", None):
        return {"kind": "random"}
    if value == "paper":
        value = {"paper": True}
    if not isinstance(value, Mapping):
        errors.add(name, shapes)
        return {"kind": "random"}
    value = dict(value)
    generations = value.pop("generations", None)
    truncate = value.pop("truncate", False)
    if not isinstance(truncate, bool):
        errors.add(f"{name}.truncate", f"must be true or false, got {truncate!r}")
        truncate = False
    if len(value) != 1:
        errors.add(name, shapes)
        return {"kind": "random"}
    kind, arg = next(iter(value.items()))
    extra = {"truncate": True} if truncate else {}
    if generations is not None and kind != "from_search":
        errors.add(f"{name}.generations", "applies to from_search only (its fronts to seed from)")
    if kind == "paper":
        if arg is not True:
            errors.add(f"{name}.paper", f"must be true, got {arg!r}")
        if family is not None and family.kind not in PAPER_SEEDS:
            errors.add(f"{name}.paper", f"no published seed population for {family.name}")
        return {"kind": "paper", **extra}
    if kind == "heuristics":
        return _heuristics(arg, errors, family, steps, num_blocks, extra)
    if kind == "schedules_dir":
        path = Path(_resolve_path(str(arg), base))
        if not path.is_dir() or not any(path.glob("*.json")):
            errors.add(f"{name}.schedules_dir", f"{path} is not a directory of schedule JSON files")
        return {"kind": "schedules_dir", "path": str(path), **extra}
    if kind == "from_search":
        return _from_search(arg, generations, errors, extra)
    errors.add(name, f"unknown kind {kind!r}; {shapes}")
    return {"kind": "random"}


def _heuristics(
    arg: Any, errors: _Errors, family: Any, steps: Any, num_blocks: Any, extra: dict[str, Any]
) -> dict[str, Any]:
    name = "initial_population"
    if not isinstance(arg, list) or not arg:
        errors.add(
            f"{name}.heuristics",
            "must be a non-empty list like ['recompute_all_every_n:3', "
            "'tgate_without_ca_avg:10:1', {name: evenly_cache_ff_evenly_spaced, "
            "num_affected_steps: 9, num_affected_blocks: 3}]",
        )
        return {"kind": "random"}
    items = []
    for item in arg:
        bad = heuristic_item_error(item, steps if isinstance(steps, int) else 1, family, num_blocks)
        if bad is not None:
            errors.add(f"{name}.heuristics", bad)
        else:  # the canonical name:v1:v2 form
            items.append(str(HeuristicCall.parse(item)))
    return {"kind": "heuristics", "items": items, **extra}


def _from_search(
    arg: Any, generations: Any, errors: _Errors, extra: dict[str, Any]
) -> dict[str, Any]:
    name = "initial_population"
    if PLACEHOLDER in str(arg):
        errors.add(f"{name}.from_search", _placeholder_error(str(arg)))
    elif (bad := check_search_id(arg)) is not None:
        errors.add(f"{name}.from_search", bad)
    if generations is not None:
        span = _span(generations)
        if span is None:
            errors.add(
                f"{name}.generations",
                f"must be [first, last] with 0 <= first <= last, got {generations!r} "
                "(e.g. [125, 200]: the union of the fronts of generations 125 to 200)",
            )
        else:
            extra["generations"] = list(span)
    return {"kind": "from_search", "search_id": str(arg), **extra}
