"""A generation's candidates, each built once: genome, schedule, cost, constraint and content
keys together."""

from __future__ import annotations

from dataclasses import dataclass

from ecad.schedules import Schedule

__all__ = ["Candidate"]


@dataclass(frozen=True, eq=False)
class Candidate:
    """One candidate of one generation. Made once per generation by the session's plan;
    everything downstream (driver, executors, task messages, aggregation, telling NSGA-II)
    reads these fields and derives none of them again."""

    index: int  # position in the generation
    genome: str  # packed bits, hex (the compact form tasks carry)
    schedule: Schedule
    digest: str  # the schedule's content digest
    generation_key: str  # content address of its images
    evaluation_key: str  # content address of its scores
    #: The min-diff constraint's value (pymoo's convention: <= 0 is feasible).
    constraint: float = 0.0
    #: Cost / no-cache cost under the search's cost model; None where it was made without one
    #: (a worker's candidate: it needs no cost).
    relative_cost: float | None = None

    @property
    def feasible(self) -> bool:
        """Passes the min-diff constraint (infeasible ones are never evaluated)."""
        return self.constraint <= 0
