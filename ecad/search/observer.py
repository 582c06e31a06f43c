"""What a running search tells whoever watches it: progress bars, logs, dashboards.

The search driver calls an observer at three points of every generation. Observers only watch:
they never change the search, and a search with no observer (``NullObserver``) runs identically.
Events are frozen plain data, so an observer may keep them, print them or send them elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

__all__ = [
    "GenerationStarted",
    "GenerationSummary",
    "NullObserver",
    "SearchObserver",
    "ShardDone",
]


@dataclass(frozen=True)
class GenerationStarted:
    """A generation about to be evaluated."""

    search_id: str
    generation: int  # 0 = the initial population
    generations: int  # index of the last generation (the spec's ``generations``)
    candidates: int  # distinct feasible candidates to evaluate in this generation
    shards_total: int  # shards over all those candidates
    shards_done: int  # shards already complete in the store when the generation starts
    images_per_shard: int


@dataclass(frozen=True)
class ShardDone:
    """One shard of one candidate finished (generated and scored), was cached, or was dropped."""

    search_id: str
    generation: int
    candidate: int  # the candidate's index in the generation
    shard: int
    images: int  # images generated for this shard now (0 when cached, pruned or failed)
    cached: bool
    seconds: float  # wall time of the shard's work (0 when cached)


@dataclass(frozen=True)
class GenerationSummary:
    """A generation told to NSGA-II and checkpointed."""

    search_id: str
    generation: int
    generations: int
    evaluated: int  # candidates evaluated now
    cached: int  # candidates whose evaluation was already in the store
    failed: int  # candidates with a recorded failure
    infeasible: int  # candidates rejected by the constraint, never evaluated
    pruned: int  # candidates stopped early (partial evaluation)
    hypervolume: float
    front: tuple[tuple[float, float], ...]  # (quality, relative cost) per front member
    quality_name: str  # the scorer's name, e.g. "ssim" or "image-reward"
    images: int  # images generated in this generation
    seconds: float  # wall time of the generation
    images_saved: int = 0  # images pruned candidates' remaining shards would have needed
    shard_seconds: float = 0.0  # summed time of the shard work (GPU-seconds on one GPU)


class SearchObserver(Protocol):
    def generation_started(self, started: GenerationStarted) -> None: ...

    def shard_done(self, event: ShardDone) -> None: ...

    def generation_finished(self, summary: GenerationSummary) -> None: ...


class NullObserver:
    """Watches nothing."""

    def generation_started(self, started: GenerationStarted) -> None:
        pass

    def shard_done(self, event: ShardDone) -> None:
        pass

    def generation_finished(self, summary: GenerationSummary) -> None:
        pass
