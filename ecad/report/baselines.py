"""The heuristic baselines (no cache, FORA, attention-every, TGATE) as reference points.

They are the same heuristics ``ecad schedule baselines`` writes under ``schedules/``, built for the
search's own layout and step count, and evaluated through the search's evaluation path under its
setting (same weights, prompts, seeds, scorer, cost model). Stored evaluations are reused, so a
second report costs nothing; ``evaluate=False`` only reads what is already stored.
"""

from __future__ import annotations

from collections.abc import Callable

from ecad.report.data import Baseline
from ecad.schedules.baselines import baseline_schedules
from ecad.search.session import SearchSession

__all__ = ["baseline_points"]


def baseline_points(
    session: SearchSession,
    evaluate: bool = True,
    device: str = "cpu",
    dtype: str | None = None,
    log: Callable[[str], None] = lambda _: None,
) -> list[Baseline]:
    from ecad.search.evaluation import Evaluator, evaluation_record_key

    evaluator = Evaluator(session.spec, session.store, device=device, dtype=dtype)
    out = []
    for sched in baseline_schedules(session.layout, session.spec.steps):
        candidate = evaluator.candidate(sched)
        key = evaluation_record_key(candidate.evaluation_key)
        quality = None
        if session.store.exists(key):
            quality = float(session.store.get_json(key)["quality"])
        elif evaluate:
            log(f"evaluating baseline {sched.metadata.name} under the search's setting")
            record, _ = evaluator.evaluate_locally(candidate)
            quality = float(record["quality"])
        out.append(Baseline(sched.metadata.name, quality, session.table.relative_cost(sched),
                            sched.reuse_fraction()))
    return out
