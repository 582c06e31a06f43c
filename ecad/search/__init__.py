"""NSGA-II schedule search: specs, evaluation, checkpointed state, the single-machine runner."""

from ecad.search.evaluation import Candidate, Evaluator
from ecad.search.runner import run_search
from ecad.search.session import SearchSession
from ecad.search.spec import SearchSpec, load_spec, parse_spec

__all__ = [
    "Candidate",
    "Evaluator",
    "SearchSession",
    "SearchSpec",
    "load_spec",
    "parse_spec",
    "run_search",
]
