"""The executor protocol: what the search driver hands shard work to, and what it may expect.

Two kinds exist, told apart by one capability, :attr:`Executor.blocking`, which the driver reads
once into a :class:`Pacing`:

- *serial* (``blocking = True``): ``wait`` runs one piece of submitted work, in the order sent,
  and returns it (``ecad search``'s in-process executor). The driver runs a generation to its
  end in one step and sends all of a candidate's work at once, in the order candidates are
  settled in.
- *queued* (``blocking = False``): the work runs elsewhere and lands in the store, where the
  driver looks for it; ``wait`` returns at once (the Celery executor). The driver makes one
  pass per step and keeps few shards of a prunable candidate out at a time, most promising
  first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ecad.search.plan import ShardResult, ShardWork

__all__ = ["Completed", "Executor", "ExecutorStats", "Pacing"]


@dataclass(frozen=True)
class Completed:
    """A finished piece of work, as an executor that ran it reports it."""

    work: ShardWork
    result: ShardResult


@dataclass(frozen=True)
class ExecutorStats:
    """An executor's counters for the progress record. The fields after ``tasks_resent`` are a
    queued executor's (None: it has none, and they are not written)."""

    tasks_sent: int = 0
    tasks_resent: int = 0
    resend_reasons: Mapping[str, int] | None = None
    last_resend_reason: str | None = None
    deadline_s: float | None = None
    queued: int | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"tasks_sent": self.tasks_sent, "tasks_resent": self.tasks_resent}
        if self.resend_reasons is not None:  # a queued executor: all of its fields
            out.update(
                resend_reasons=dict(self.resend_reasons),
                last_resend_reason=self.last_resend_reason,
                deadline_s=self.deadline_s,
                queued=self.queued,
            )
        return out


class Executor(Protocol):
    """Gets shard work done. ``submit`` may be called again with work already in hand (it is
    then not sent twice); completions are either returned by ``wait`` (an executor that runs
    the work) or found in the store by the driver (one that sends it elsewhere)."""

    #: The capability (see the module's docstring): True: ``wait`` runs submitted work and
    #: returns it. False: ``wait`` returns at once (results land in the store).
    blocking: bool

    def submit(self, work: Sequence[ShardWork]) -> None: ...

    def wait(self) -> list[Completed]: ...

    def cancel(self, evaluation_key: str) -> None:
        """Drop the candidate's work not yet done (a stopped or failed candidate)."""

    def finished(self, task_key: str) -> None:
        """The task's output was seen (the executor may stop tracking it, and time it)."""

    def stats(self) -> ExecutorStats:
        """Counters for the progress record (tasks sent, re-sent, in flight)."""


@dataclass(frozen=True)
class Pacing:
    """How the driver paces work for an executor: its capability, read once."""

    #: ``wait`` runs work: one step runs the generation to its end (else one pass per step).
    runs_work: bool
    #: Completions are looked for in the store at every pass (else only at a generation's start).
    looks_in_store: bool
    #: A prunable candidate has few shards out at once, the most promising first (else all of
    #: its shards go out at once, candidates in index order: the order they are settled in).
    windowed: bool
    #: Candidates' shards wait for every reference shard when pruning (one shard runs at a
    #: time in the order sent: sent as each reference shard lands, they would go shard-major).
    references_first: bool = field(default=False)

    @classmethod
    def of(cls, executor: Executor) -> Pacing:
        serial = bool(executor.blocking)
        return cls(
            runs_work=serial,
            looks_in_store=not serial,
            windowed=not serial,
            references_first=serial,
        )
