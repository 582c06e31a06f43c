"""Search quality on the tiny model: does the NSGA-II front dominate or match the heuristic
baselines (FORA every-n, attention-every-n, TGATE-style) at equal cost?

    python benchmarks/search_vs_heuristics.py --spec specs/tiny.yaml --store runs/store \
        --output benchmarks/results/search_vs_heuristics

Runs (or reuses) the search, evaluates each heuristic with the same evaluator (same prompts,
seeds, scorer, cost model), and for each heuristic reports the best front quality at a cost no
higher than the heuristic's. Writes <output>.json and <output>.md.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--spec", type=Path, default=REPO / "specs" / "tiny.yaml")
    ap.add_argument("--store", default=str(REPO / "runs" / "store"))
    ap.add_argument("--output", type=Path,
                    default=REPO / "benchmarks" / "results" / "search_vs_heuristics")
    ap.add_argument("overrides", nargs="*")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    from ecad.schedules.heuristics import attention_every, cross_attn_gate, fora
    from ecad.search import Evaluator, load_spec, run_search
    from ecad.search.local import evaluate_schedule
    from ecad.store import open_store

    spec = load_spec(args.spec, args.overrides)
    store = open_store(args.store)
    started = time.time()
    session = run_search(store, spec, progress=print)
    ev = Evaluator(session.spec, store)
    layout, steps = session.layout, session.spec.steps
    heuristics = [fora(layout, steps, n) for n in (2, 3, 4, 5)]
    heuristics += [attention_every(layout, steps, n) for n in (2, 3)]
    heuristics += [
        cross_attn_gate(layout, steps, 2, max(1, steps // 2)),
        cross_attn_gate(layout, steps, 3, 2),
    ]
    front = session.front()
    rows = []
    for sched in heuristics:
        record = evaluate_schedule(ev, sched)
        q, cost = record.quality, session.table.relative_cost(sched)
        cheaper = [m for m in front if m.relative_cost <= cost + 1e-12]
        best = max(cheaper, key=lambda m: m.quality) if cheaper else None
        rows.append({
            "heuristic": sched.metadata.name, "relative_cost": cost, "quality": q,
            "front_best_quality_at_cost": best.quality if best else None,
            "front_member_cost": best.relative_cost if best else None,
            "front_dominates_or_matches": bool(best and best.quality >= q),
        })
    hv = [r.hypervolume for r in session.history()]
    result = {
        "spec": session.spec.to_json() | {"prompts": {"count": len(spec.prompts.texts)}},
        "search_id": session.search_id, "seconds": round(time.time() - started, 1),
        "hypervolume_by_generation": hv,
        "hypervolume_non_decreasing": all(b >= a - 1e-12 for a, b in itertools.pairwise(hv)),
        "front": [{"quality": m.quality, "relative_cost": m.relative_cost} for m in front],
        "heuristics": rows,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.with_suffix(".json").write_text(json.dumps(result, indent=2))
    quality = session.spec.quality.name
    lines = [f"# Search vs. heuristics ({session.search_id}, CPU, quality = {quality})", "",
             f"Hypervolume by generation: {', '.join(f'{h:.3f}' for h in hv)}", "",
             "| heuristic | rel. cost | quality | best front quality at <= cost (its cost) | "
             "front dominates or matches |", "|---|---|---|---|---|"]
    for r in rows:
        best = (f"{r['front_best_quality_at_cost']:.3f} ({r['front_member_cost']:.3f})"
                if r["front_best_quality_at_cost"] is not None else "none that cheap")
        lines.append(f"| {r['heuristic']} | {r['relative_cost']:.3f} | {r['quality']:.3f} | "
                     f"{best} | {'yes' if r['front_dominates_or_matches'] else 'no'} |")
    args.output.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
