"""NSGA-II schedule search: specs, candidates, the search driver and its in-process executor,
checkpointed state.

The names below load on first use (PEP 562): importing a light submodule such as
``ecad.search.observer`` or ``ecad.search.spec`` must not pull in pymoo, scipy and torch, which
every ``ecad`` command would otherwise pay at start.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ecad.search.candidate import Candidate
    from ecad.search.driver import SearchDriver
    from ecad.search.evaluation import Evaluator
    from ecad.search.executor import Executor
    from ecad.search.plan import SearchPlan, ShardWork
    from ecad.search.runner import run_search
    from ecad.search.session import SearchSession
    from ecad.search.spec import SearchSpec, load_spec, parse_spec

_HOMES = {
    "Candidate": "candidate",
    "Evaluator": "evaluation",
    "Executor": "executor",
    "SearchDriver": "driver",
    "SearchPlan": "plan",
    "SearchSession": "session",
    "SearchSpec": "spec",
    "ShardWork": "plan",
    "load_spec": "spec",
    "parse_spec": "spec",
    "run_search": "runner",
}

__all__ = [
    "Candidate",
    "Evaluator",
    "Executor",
    "SearchDriver",
    "SearchPlan",
    "SearchSession",
    "SearchSpec",
    "ShardWork",
    "load_spec",
    "parse_spec",
    "run_search",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'ecad.search' has no attribute {name!r}")
    return getattr(importlib.import_module(f"ecad.search.{home}"), name)


def __dir__() -> list[str]:
    return __all__
