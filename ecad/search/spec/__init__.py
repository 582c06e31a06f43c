"""The search spec (YAML): what to search, how, and how to judge candidates.

``load_spec`` validates every field and reports *all* errors at once, each naming its field.
The resolved spec (defaults filled in) is a frozen :class:`SearchSpec` of typed sections; its
JSON form (``to_json``/``from_json``, versioned) is what the store keeps, and its digest
identifies the search.

Modules: :mod:`~ecad.search.spec.sections` (the typed sections and their constants),
:mod:`~ecad.search.spec.resolved` (:class:`SearchSpec`, its JSON form and id),
:mod:`~ecad.search.spec.parse` (``parse_spec``, with ``parse_prompts`` and ``parse_initial``
for the two sections that read files or other searches) and :mod:`~ecad.search.spec.load`.
"""

from ecad.cost.table import COST_MODES
from ecad.search.spec.load import load_spec
from ecad.search.spec.parse import parse_spec
from ecad.search.spec.resolved import SearchSpec
from ecad.search.spec.sections import (
    MIN_DIFF_COUNTS,
    PLACEHOLDER,
    QUALITY_SCORERS,
    SEED_RULES,
    SPEC_VERSION,
    CostSpec,
    CrossoverSpec,
    InitialPopulationSpec,
    MutationSpec,
    PromptsSpec,
    QualitySpec,
)

__all__ = [
    "COST_MODES",
    "MIN_DIFF_COUNTS",
    "PLACEHOLDER",
    "QUALITY_SCORERS",
    "SEED_RULES",
    "SPEC_VERSION",
    "CostSpec",
    "CrossoverSpec",
    "InitialPopulationSpec",
    "MutationSpec",
    "PromptsSpec",
    "QualitySpec",
    "SearchSpec",
    "load_spec",
    "parse_spec",
]
