"""The search spec's ``preselection`` section: how many offspring NSGA-II proposes, how many of
them are evaluated, and how the rest of the choice is spent on exploration."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ecad.errors import ConfigError
from ecad.search.spec_keys import unknown_keys

__all__ = ["PreselectionConfig", "parse_preselection"]

_FIELDS = ("enabled", "factor", "evaluate", "exploration", "optimism", "min_history", "max_history")


@dataclass(frozen=True)
class PreselectionConfig:
    """The spec's ``preselection`` section (off by default).

    Example (search spec YAML)::

        preselection: {enabled: true, factor: 4, evaluate: 4, exploration: 0.25}

    Each generation after the first, NSGA-II proposes ``factor * population`` offspring; a
    quality predictor fitted on the search's stored evaluations ranks them with their exact cost
    and ``evaluate`` of them are evaluated (the rest are never generated, and never told to
    NSGA-II). See :mod:`ecad.search.preselection`.
    """

    enabled: bool = False
    #: Offspring proposed per generation, in populations (an integer >= 2).
    factor: int = 4
    #: Offspring evaluated per generation; ``None``: the population's worth.
    evaluate: int | None = None
    #: Share of the evaluated offspring chosen as the predictor's most uncertain, in [0, 1).
    exploration: float = 0.25
    #: Standard deviations of the predictor's uncertainty added to its prediction when ranking
    #: (0: the prediction alone), in [0, 4].
    optimism: float = 0.0
    #: Stored evaluations needed before the predictor is used; with fewer, the first offspring
    #: in NSGA-II's order are taken (an integer >= 2).
    min_history: int = 8
    #: The predictor is fitted on the latest this many evaluations (an integer >= min_history;
    #: 1000 keeps fit + predict + choose within a second at population 72 on PixArt-α).
    max_history: int = 1000

    def __post_init__(self) -> None:
        errors = _validate(self.to_json())
        if errors:
            raise ConfigError("; ".join(f"preselection.{e}" for e in errors))

    def evaluated(self, population: int) -> int:
        """Offspring evaluated per generation at ``population``."""
        return population if self.evaluate is None else self.evaluate

    def to_json(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in _FIELDS}


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _validate(v: Mapping[str, Any]) -> list[str]:
    errors = []
    if not isinstance(v["enabled"], bool):
        errors.append(f"enabled: must be true or false, got {v['enabled']!r:.40}")
    if not _is_int(v["factor"]) or not 2 <= v["factor"] <= 64:
        errors.append(f"factor: must be an integer in [2, 64], got {v['factor']!r:.40}")
    if v["evaluate"] is not None and (not _is_int(v["evaluate"]) or v["evaluate"] < 1):
        errors.append(
            f"evaluate: must be an integer >= 1 (or null: the population), got "
            f"{v['evaluate']!r:.40}"
        )
    if not _is_number(v["exploration"]) or not 0 <= v["exploration"] < 1:
        errors.append(f"exploration: must be a number in [0, 1), got {v['exploration']!r:.40}")
    if not _is_number(v["optimism"]) or not 0 <= v["optimism"] <= 4:
        errors.append(f"optimism: must be a number in [0, 4], got {v['optimism']!r:.40}")
    if not _is_int(v["min_history"]) or v["min_history"] < 2:
        errors.append(f"min_history: must be an integer >= 2, got {v['min_history']!r:.40}")
    elif not _is_int(v["max_history"]) or v["max_history"] < v["min_history"]:
        errors.append(
            f"max_history: must be an integer >= min_history ({v['min_history']}), "
            f"got {v['max_history']!r:.40}"
        )
    return errors


def parse_preselection(
    section: Any, population: int | None = None, where: str = "preselection"
) -> tuple[PreselectionConfig, list[str]]:
    """A spec section -> (config, errors), like :func:`ecad.search.pruning.parse_pruning`: with
    errors the config is the default (off). ``population``: checks ``evaluate`` against the
    proposals (``factor * population``)."""
    if section is None:
        return PreselectionConfig(), []
    if not isinstance(section, Mapping):
        return PreselectionConfig(), [
            f"{where}: must be a mapping like {{enabled: true, factor: 4, evaluate: 4, "
            f"exploration: 0.25}}, got {type(section).__name__}"
        ]
    errors = unknown_keys(f"{where}.", section, _FIELDS)
    values = {name: section.get(name, getattr(PreselectionConfig, name)) for name in _FIELDS}
    if _is_number(values["exploration"]) and _is_int(values["exploration"]):
        values["exploration"] = float(values["exploration"])
    if _is_number(values["optimism"]):
        values["optimism"] = float(values["optimism"])
    errors += [f"{where}.{e}" for e in _validate(values)]
    if not errors and population is not None:
        proposed = values["factor"] * population
        if values["evaluate"] is not None and values["evaluate"] > proposed:
            errors.append(
                f"{where}.evaluate: {values['evaluate']} is more than the "
                f"{proposed} offspring proposed (factor {values['factor']} x "
                f"population {population}); lower it or raise factor"
            )
    if errors:
        return PreselectionConfig(), errors
    return PreselectionConfig(**values), []
