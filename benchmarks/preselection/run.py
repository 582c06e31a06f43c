"""Pruning + pre-selection: the third way of the pruning benchmark's searches, per seed.

    python benchmarks/preselection/run.py --output-dir $OUT --seeds 0 1 2 --prompts 64 \
        --shard-size 8 --population 16 --generations 25 --min-shards 1 \
        --baseline benchmarks/results/pruning-tiny-d/pruning-tiny.json

The setting is ``benchmarks/pruning/``'s (tiny PixArt-α on the CPU, ``specs/tiny.yaml``:
fidelity PSNR, MACs cost, ``--prompts`` prompts in stratified shards of ``--shard-size``,
``pruning: {enabled: true, z, margin, min_shards}``), with ``preselection: {enabled: true,
factor, evaluate, exploration, optimism}`` added. The unpruned and pruning-only searches of the
same seeds come from ``--baseline`` (a ``benchmarks/pruning/run.py`` result of the same
setting; those two modes are unchanged by pre-selection, which is off by default).

Per run: what ``benchmarks/pruning/run.py`` records (images per generation from the driver's
count, hypervolume, front fully evaluated), plus per generation the pre-selection record's
proposed/evaluated counts, the predictor's rank correlation with what was then measured, its
leave-one-out rank correlation on its training rows, and the scheduler CPU seconds of fit,
predict and choice. Per seed: against unpruned and against pruning only, the images ratio,
the final hypervolume ratio and the hypervolume at equal images. Writes
``<output-dir>/preselection-tiny.json`` and ``.md`` (``preselection-gpu`` with ``--gpu``) after
every seed.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from benchmarks.pruning.run import (  # noqa: E402
    compare,
    full_size_spec,
    run_summary,
    seed_random_embeddings,
)

MODE = "preselected"


def spec_for(args: argparse.Namespace, seed: int):
    from ecad.search import load_spec

    overrides = [
        f"seed={seed}",
        f"population={args.population}",
        f"shard_size={args.shard_size}",
        f"images_per_prompt={args.images_per_prompt}",
        f"generations={args.generations}",
        *([] if args.gpu else [f"prompts.limit={args.prompts}"]),
        f"pruning={{enabled: true, z: {args.z}, margin: {args.margin}, "
        f"min_shards: {args.min_shards}}}",
        f"preselection={{enabled: true, factor: {args.factor}, evaluate: {args.evaluate}, "
        f"exploration: {args.exploration}, optimism: {args.optimism}}}",
    ]
    return load_spec(args.spec, overrides)


def run_one(args: argparse.Namespace, seed: int) -> dict:
    from ecad.search import SearchSession
    from ecad.search.driver import SearchDriver
    from ecad.search.evaluation import Evaluator
    from ecad.search.local import InProcessExecutor
    from ecad.search.preselection.generation import read_preselection
    from ecad.store import open_store

    spec = spec_for(args, seed)
    store = open_store(str(args.output_dir / "stores" / f"{MODE}-seed{seed}"))
    if args.gpu:
        seed_random_embeddings(store, spec)
    session, _ = SearchSession.create(store, spec)
    evaluator = Evaluator(spec, store, device=args.device, dtype=None, plan=session.plan)
    driver = SearchDriver(session, InProcessExecutor(evaluator))
    started = time.time()
    while driver.step():
        print(
            f"  {MODE} seed {seed}: generation {session.generation - 1} done, "
            f"{time.time() - started:.0f}s",
            flush=True,
        )
    history = session.history()
    per_gen = []
    for r in history:
        pre = read_preselection(session, r.generation)
        row = {
            "generation": r.generation,
            "images": r.work.images,
            "images_saved": r.work.images_saved,
            "shard_seconds": round(r.work.shard_seconds, 2),
            "seconds": round(r.seconds, 2),
            "evaluated": r.counts.evaluated,
            "cached": r.counts.cached,
            "pruned": r.counts.pruned,
            "hypervolume": r.hypervolume,
        }
        if pre is not None:
            out = pre.outcome
            row["preselection"] = {
                "proposed": pre.proposed,
                "chosen": len(pre.chosen),
                "kinds": list(pre.kinds),
                "cpu_seconds": round(pre.cpu_seconds, 4),
                "predictor_rows": None if pre.predictor is None else pre.predictor.rows,
                "loo_rank_correlation": (
                    None if pre.predictor is None else pre.predictor.loo_rank_correlation
                ),
                "rank_correlation": None if out is None else out.rank_correlation,
                "rank_correlation_full": None if out is None else out.rank_correlation_full,
                "fully_evaluated": None if out is None else sum(out.full),
            }
        per_gen.append(row)
    return run_summary(session, store, seed, MODE, started, per_gen)


def _ci(values: list[float]) -> tuple[float, float, float]:
    """Mean and its 95 % t interval."""
    from scipy.stats import t

    n = len(values)
    mean = sum(values) / n
    if n < 2:
        return mean, math.nan, math.nan
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    half = t.ppf(0.975, n - 1) * sd / math.sqrt(n)
    return mean, mean - half, mean + half


def summary(result: dict) -> dict:
    out = {}
    for against in ("unpruned", "pruned"):
        rows = [c[against] for c in result["comparison"] if c.get(against)]
        if not rows:
            continue
        out[against] = {
            key: _ci([r[key] for r in rows])
            for key in ("images_ratio", "hypervolume_ratio", "hypervolume_ratio_at_equal_images")
        }
    rhos = [
        g["preselection"]["rank_correlation"]
        for r in result["runs"]
        for g in r["per_generation"]
        if g.get("preselection") and g["preselection"]["rank_correlation"] is not None
    ]
    cpu = [
        g["preselection"]["cpu_seconds"]
        for r in result["runs"]
        for g in r["per_generation"]
        if g.get("preselection")
    ]
    out["rank_correlation_mean"] = sum(rhos) / len(rhos) if rhos else None
    out["cpu_seconds_max"] = max(cpu) if cpu else None
    out["cpu_seconds_mean"] = sum(cpu) / len(cpu) if cpu else None
    return out


def markdown(result: dict) -> str:
    a = result["args"]
    model = (
        "full-size random-weight PixArt-α"
        if a.get("gpu") and not a.get("tiny_model")
        else "tiny PixArt-α"
    )
    lines = [
        f"# Pruning + pre-selection, {model} on {a.get('device', 'cpu')}: {a['prompts']} prompts, "
        f"stratified shards of {a['shard_size']}, population {a['population']}, "
        f"{a['generations']} generations",
        "",
        f"Pruning: z = {a['z']}, margin = {a['margin']}, min_shards = {a['min_shards']}. "
        f"Pre-selection: factor {a['factor']}, evaluate {a['evaluate']}, exploration "
        f"{a['exploration']}, optimism {a['optimism']}. Baselines: {a['baseline']}.",
        "",
        "| seed | images | vs unpruned | vs pruning only | HV | HV vs unpruned | HV vs "
        "pruning only | HV at equal images (unpruned) | mean rank corr. | front fully "
        "evaluated | s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    comps = {c["seed"]: c for c in result["comparison"]}
    for r in result["runs"]:
        c = comps.get(r["seed"], {})
        u, p = c.get("unpruned") or {}, c.get("pruned") or {}
        rhos = [
            g["preselection"]["rank_correlation"]
            for g in r["per_generation"]
            if g.get("preselection") and g["preselection"]["rank_correlation"] is not None
        ]
        rho = f"{sum(rhos) / len(rhos):.3f}" if rhos else "-"

        def f(d: dict, k: str, fmt: str = ".4f") -> str:
            return format(d[k], fmt) if k in d else "-"

        lines.append(
            f"| {r['seed']} | {r['images_generated']} | {f(u, 'images_ratio', '.3f')} | "
            f"{f(p, 'images_ratio', '.3f')} | {r['hypervolume']:.4f} | "
            f"{f(u, 'hypervolume_ratio')} | {f(p, 'hypervolume_ratio')} | "
            f"{f(u, 'hypervolume_ratio_at_equal_images')} | {rho} | "
            f"{'yes' if r['front_fully_evaluated'] else 'NO'} | {r['seconds']} |"
        )
    s = result.get("summary") or {}
    for against in ("unpruned", "pruned"):
        if against in s:
            cells = ", ".join(
                f"{k} {m:.4f} (95 % CI {lo:.4f}-{hi:.4f})" for k, (m, lo, hi) in s[against].items()
            )
            lines += ["", f"Against {against}: {cells}."]
    if s.get("cpu_seconds_max") is not None:
        lines += [
            "",
            f"Scheduler CPU seconds per generation (fit + predict + choose): mean "
            f"{s['cpu_seconds_mean']:.4f}, max {s['cpu_seconds_max']:.4f}; mean rank "
            f"correlation (prediction vs measured, chosen offspring) "
            + (
                "-." if s["rank_correlation_mean"] is None else f"{s['rank_correlation_mean']:.3f}."
            ),
        ]
    lines += ["", "Per generation (images / pruned / rank correlation):", ""]
    for r in result["runs"]:
        cells = ", ".join(
            f"g{g['generation']}: {g['images']}/{g['pruned']}/"
            + (
                f"{g['preselection']['rank_correlation']:.2f}"
                if g.get("preselection") and g["preselection"]["rank_correlation"] is not None
                else "-"
            )
            for g in r["per_generation"]
        )
        lines.append(f"- seed {r['seed']}: {cells}")
    return "\n".join(lines) + "\n"


def merge(paths: list[Path], output_dir: Path, baseline: Path | None) -> None:
    """One result from several files (seeds run apart): the first file's settings, every run
    and its comparisons by seed (computed when each ran), the summary recomputed. ``baseline``
    names the merged baseline file those comparisons came from."""
    results = [json.loads(p.read_text()) for p in paths]
    runs = {r["seed"]: r for res in results for r in res["runs"]}
    comparisons = {c["seed"]: c for res in results for c in res["comparison"]}
    seeds = sorted(runs)
    args = {**results[0]["args"], "seeds": seeds, "merged_from": [str(p) for p in paths]}
    if baseline is not None:
        args["baseline"] = str(baseline)
    result: dict = {
        "args": args,
        "runs": [runs[s] for s in seeds],
        "comparison": [comparisons[s] for s in seeds if s in comparisons],
    }
    result["summary"] = summary(result)
    name = "preselection-gpu" if args.get("gpu") else "preselection-tiny"
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / f"{name}.json").write_text(json.dumps(result, indent=2))
    (output_dir / f"{name}.md").write_text(markdown(result))
    print(markdown(result))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--output-dir", type=Path, required=True)
    ap.add_argument(
        "--gpu",
        action="store_true",
        help="full-size random-weight PixArt-α (benchmarks/pruning/run.py --gpu's "
        "model and spec) on cuda",
    )
    ap.add_argument("--tiny-model", action="store_true", help="--gpu's mode, tiny model on CPU")
    ap.add_argument("--steps", type=int, default=20, help="--gpu: sampling steps")
    ap.add_argument("--resolution", type=int, default=256, help="--gpu: image size")
    ap.add_argument("--batch-size", type=int, default=None, help="--gpu: generation batch")
    ap.add_argument("--spec", type=Path, default=REPO / "specs" / "tiny.yaml")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--generations", type=int, default=25)
    ap.add_argument("--population", type=int, default=16)
    ap.add_argument("--prompts", type=int, default=64)
    ap.add_argument("--images-per-prompt", type=int, default=1)
    ap.add_argument("--shard-size", type=int, default=8)
    ap.add_argument("--z", type=float, default=2.5)
    ap.add_argument("--margin", type=float, default=0.0)
    ap.add_argument("--min-shards", type=int, default=1)
    ap.add_argument("--factor", type=int, default=4)
    ap.add_argument("--evaluate", type=int, default=4)
    ap.add_argument("--exploration", type=float, default=0.25)
    ap.add_argument("--optimism", type=float, default=0.0)
    ap.add_argument(
        "--baseline",
        type=Path,
        default=None,
        help="a benchmarks/pruning/run.py result of the same setting: its unpruned "
        "and pruned runs of the same seeds are the comparisons",
    )
    ap.add_argument(
        "--merge",
        type=Path,
        nargs="+",
        default=None,
        help="run nothing: merge earlier result JSONs (their runs, by seed) into one result in "
        "--output-dir (--baseline then names the merged baseline they were compared with)",
    )
    args = ap.parse_args()
    if args.merge:
        merge(args.merge, args.output_dir, args.baseline)
        return
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    args.device = "cuda" if args.gpu and not args.tiny_model else "cpu"
    if args.gpu:
        import tempfile

        args.output_dir.mkdir(parents=True, exist_ok=True)
        args.batch_size = args.batch_size or args.shard_size
        args.spec = full_size_spec(args, Path(tempfile.mkdtemp(prefix="preselection-gpu-")))
    args.output_dir.mkdir(parents=True, exist_ok=True)
    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    result: dict = {"args": settings, "runs": [], "comparison": []}
    earlier = json.loads(args.baseline.read_text())["runs"] if args.baseline else []
    for seed in args.seeds:
        run = run_one(args, seed)
        result["runs"].append(run)
        entry: dict = {"seed": seed}
        for mode in ("unpruned", "pruned"):
            base = next((r for r in earlier if r["seed"] == seed and r["mode"] == mode), None)
            if base is not None:
                entry[mode] = compare(base, run)
        result["comparison"].append(entry)
        result["summary"] = summary(result)
        name = "preselection-gpu" if args.gpu else "preselection-tiny"
        (args.output_dir / f"{name}.json").write_text(json.dumps(result, indent=2))
        (args.output_dir / f"{name}.md").write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
