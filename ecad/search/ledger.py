"""A generation's books: its candidates, built once (:class:`Ledger`), and what the driver
knows of each distinct evaluation while the generation runs (:class:`Evaluation`,
:class:`Round`)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from ecad.search.candidate import Candidate
from ecad.search.nsga import unpack_genomes
from ecad.search.objectives import quality_objective
from ecad.search.plan import SearchPlan, ShardResult
from ecad.search.progress import GenerationProgress
from ecad.search.records import Counts, GenerationWork
from ecad.search.scores import ScoreRecord

__all__ = ["Evaluation", "Ledger", "Round"]


class Ledger:
    """The pending generation's candidates, each built once (genome, schedule, digest, keys,
    constraint, relative cost), with the genomes as boolean rows: what the driver evaluates and
    what NSGA-II is told, with nothing derived again in between."""

    def __init__(self, generation: int, pending: tuple[str, ...], plan: SearchPlan) -> None:
        self.generation = generation
        self.pending = pending
        self.X = unpack_genomes(list(pending), plan.n_var)
        self.candidates = plan.candidates(pending, generation, self.X)

    def objectives(self, qualities: Mapping[str, float | None]) -> tuple[np.ndarray, np.ndarray]:
        """``(F, G)``: each candidate's ``1 - quality`` (infeasible or failed:
        ``INFEASIBLE``) and relative cost, and its constraint value."""
        F = np.zeros((len(self.candidates), 2))
        G = np.zeros((len(self.candidates), 1))
        for c in self.candidates:
            q = qualities.get(c.evaluation_key) if c.feasible else None
            F[c.index] = quality_objective(q), c.relative_cost
            G[c.index, 0] = c.constraint
        return F, G

    def sharing(self, evaluation_key: str) -> list[int]:
        """The indices of the candidates with this evaluation."""
        return sorted(c.index for c in self.candidates if c.evaluation_key == evaluation_key)


@dataclass
class Evaluation:
    """One distinct evaluation of the generation (candidates sharing an evaluation key share
    it): its shards not yet seen done, in order, the score records in memory and the outcome."""

    candidate: Candidate
    task_keys: frozenset[str]
    left: list[int] = field(default_factory=list)
    submitted: set[int] = field(default_factory=set)
    finished: dict[int, ShardResult] = field(default_factory=dict)  # reported, not yet taken
    stored: frozenset[int] = frozenset()  # shards in the store when the generation was planned
    scores: dict[int, ScoreRecord] = field(default_factory=dict)
    quality: float | None = None
    cached: bool = False
    failed: bool = False
    pruned: bool = False  # settled by pruning (``quality`` is then its optimistic bound)

    @property
    def key(self) -> str:
        return self.candidate.evaluation_key

    @property
    def cost(self) -> float:
        """Relative cost (pruning compares it with the front's)."""
        return float(self.candidate.relative_cost or 0.0)

    @property
    def open(self) -> bool:
        return not (self.failed or self.quality is not None)

    def out(self) -> int:
        """Shards of it submitted and not yet seen done."""
        return sum(1 for s in self.left if s in self.submitted)


@dataclass
class Round:
    """The generation the driver is running: its evaluations (in candidate index order), the
    reference shards, and its tallies."""

    number: int
    evaluations: dict[str, Evaluation]
    reference_left: list[int] = field(default_factory=list)
    reference_submitted: set[int] = field(default_factory=set)
    reference_finished: set[int] = field(default_factory=set)
    progress: GenerationProgress = field(default_factory=GenerationProgress)
    images: int = 0
    images_saved: int = 0  # images of shards a pruned candidate never needed
    shard_seconds: float = 0.0  # summed time of the shard work reported to this process
    started: float = field(default_factory=time.time)
    dirty: bool = True  # new work may be ready to submit

    def done(self) -> bool:
        return not any(e.open for e in self.evaluations.values())

    def counts(self) -> Counts:
        """Distinct evaluations by outcome (the infeasible are counted at the tell)."""
        evs = list(self.evaluations.values())
        return Counts(
            evaluated=sum(
                1 for e in evs if e.quality is not None and not e.cached and not e.pruned
            ),
            cached=sum(1 for e in evs if e.cached and not e.pruned),
            failed=sum(1 for e in evs if e.failed),
            pruned=sum(1 for e in evs if e.pruned),
        )

    def qualities(self) -> dict[str, float | None]:
        return {k: e.quality for k, e in self.evaluations.items()}

    def work(self) -> GenerationWork:
        return GenerationWork(self.images, self.images_saved, self.shard_seconds)
