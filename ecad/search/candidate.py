"""A generation's candidates, each built once: genome, schedule and content keys together."""

from __future__ import annotations

from dataclasses import dataclass

from ecad.schedules import Schedule

__all__ = ["Candidate"]


@dataclass(frozen=True)
class Candidate:
    """One candidate of one generation. Made once per generation by the session; everything
    downstream (driver, executors, task messages, aggregation) reads these fields."""

    index: int  # position in the generation
    genome: str  # packed bits, hex (the compact form tasks carry)
    schedule: Schedule
    digest: str  # the schedule's content digest
    feasible: bool  # passes the min-diff constraint (infeasible ones are never evaluated)
    generation_key: str  # content address of its images
    evaluation_key: str  # content address of its scores
