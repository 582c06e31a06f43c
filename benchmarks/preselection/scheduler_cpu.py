"""Scheduler CPU time of pre-selection per generation at the paper's scale: what
``ecad.search.preselection.generation.ask_offspring`` does after NSGA-II's proposal (the
proposals' schedules, exact costs and constraints, fit, predict, choose), for PixArt-α's genome
(20 steps x 28 blocks x 3 components = 1,680 bits), population 72, ``factor`` x 72 proposals,
training histories of growing length (capped by max_history). The cost table is synthetic (the
shape of the real one: a cost per slot).

    python benchmarks/preselection/scheduler_cpu.py [--factor 4] [--max-history 1000]

Reports ``time.process_time()`` (this process's CPU seconds, all its threads) per generation,
the median of ``--repeats`` runs. Genomes and qualities are synthetic (a smooth function of the
schedule plus noise): the time depends on the shapes, not the values.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from ecad.cost import CostTable
from ecad.families import get_family
from ecad.schedules import Schedule, ScheduleLayout
from ecad.search.objectives import constraint
from ecad.search.preselection import QualityPredictor, choose

LAYOUT = ScheduleLayout.for_family(get_family("pixart-alpha"))
TABLE = CostTable(LAYOUT, "macs", 256, 2, 1.0, np.linspace(1.0, 3.0, LAYOUT.num_slots))


def one(rows: int, args: argparse.Namespace, rng: np.random.Generator) -> float:
    steps, slots, pop = 20, 84, args.population
    n_var = steps * slots
    X = rng.random((rows, n_var)) < 0.6
    w = rng.random(slots)
    y = 30 - (~X.reshape(rows, steps, slots)[:, 1:] * w).sum((1, 2)) / 50 + rng.normal(0, 0.1, rows)
    proposals = rng.random((args.factor * pop, n_var)) < 0.6
    front = np.c_[np.linspace(-30, -20, 12), np.linspace(1.0, 0.2, 12)]
    started = time.process_time()
    scheds = [Schedule.from_genome(LAYOUT, steps, x) for x in proposals]
    cost = np.asarray([TABLE.relative_cost(s) for s in scheds])
    np.asarray([constraint(s, 20) <= 0 for s in scheds])
    mean, std = QualityPredictor(steps).fit(X, y, np.ones(rows)).predict(proposals)
    choose(mean, std, cost, np.ones(len(proposals), bool), front, np.array([1.0, 1.05]), pop, 0.25)
    return time.process_time() - started


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--population", type=int, default=72)
    ap.add_argument("--factor", type=int, default=4)
    ap.add_argument("--max-history", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--output", type=Path, default=None)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    out = []
    for generations in (1, 5, 10, 14, 28, 100):
        rows = min(args.population * generations, args.max_history)
        seconds = sorted(one(rows, args, rng) for _ in range(args.repeats))
        out.append(
            {
                "generations_of_history": generations,
                "rows": rows,
                "cpu_seconds_median": round(seconds[len(seconds) // 2], 4),
            }
        )
        print(out[-1], flush=True)
    if args.output:
        args.output.write_text(
            json.dumps(
                {"args": vars(args) | {"output": str(args.output)}, "results": out}, indent=2
            )
        )


if __name__ == "__main__":
    main()
