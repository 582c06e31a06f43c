"""NSGA-II schedule search: specs, candidates, the search driver and its in-process executor,
checkpointed state."""

from ecad.search.candidate import Candidate
from ecad.search.driver import Executor, SearchDriver
from ecad.search.evaluation import Evaluator
from ecad.search.plan import SearchPlan, ShardWork
from ecad.search.runner import run_search
from ecad.search.session import SearchSession
from ecad.search.spec import SearchSpec, load_spec, parse_spec

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
