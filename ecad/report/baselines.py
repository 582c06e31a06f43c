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
    from ecad.search.evaluation import Evaluator
    from ecad.search.local import evaluate_schedule

    plan = session.plan
    evaluator = Evaluator(session.spec, session.store, device=device, dtype=dtype, plan=plan)
    out = []
    for sched in baseline_schedules(session.layout, session.spec.steps):
        candidate = plan.candidate(0, sched)
        record = plan.evaluation(session.store, candidate.evaluation_key)
        if record is None and evaluate:
            log(f"evaluating baseline {sched.metadata.name} under the search's setting")
            record = evaluate_schedule(evaluator, sched, candidate)
        out.append(Baseline(sched.metadata.name, None if record is None else record.quality,
                            candidate.relative_cost or 0.0, sched.reuse_fraction()))
    return out
