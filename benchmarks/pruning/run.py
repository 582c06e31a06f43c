"""Pruning: the same search with and without it, for the same generations, several seeds.

    python benchmarks/pruning/run.py --output-dir $OUT                   # tiny model, CPU
    python benchmarks/pruning/run.py --output-dir $OUT --gpu             # full-size, GPU

CPU (default): the tiny PixArt-α search (``specs/tiny.yaml``: fidelity PSNR, MACs cost) with
``--prompts`` prompts cut into stratified shards of ``--shard-size``, run for ``--generations``
generations without and with ``pruning: {enabled: true, z, margin, min_shards}``, per seed.

``--gpu``: full-size PixArt-α at 256 px with random weights built on the GPU (no download; the
random model has no text encoder, so random prompt embeddings are put in the store), fidelity
PSNR against the uncached schedule's images, population 24. The unpruned search runs until
half of ``--budget`` seconds have passed (whole generations); the pruned one then runs the same
number of generations (or until the budget is spent). ``--tiny-model`` runs this mode with the
tiny model on the CPU (to test the script).

Per run: images generated and images saved by pruning (the driver's count, per generation),
the shard work's seconds per generation (GPU-seconds on a GPU), images/s, candidates pruned,
the final front's hypervolume and whether every front member is fully evaluated (its evaluation
record covers every image). Per seed: pruned/unpruned images and hypervolume, against the issue's
targets (<= 1/2 the images, >= 99 % of the hypervolume). Writes ``<output-dir>/pruning-<mode>.json``
and ``.md`` after every run.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))


def full_size_spec(args: argparse.Namespace, root: Path) -> Path:
    """A spec file for the random-weight PixArt-α (built once under ``root``)."""
    from ecad.bench.fullsize import random_pipeline
    from ecad.families import get_family

    weights = root / "pixart-alpha-random"
    if not (weights / "model_index.json").exists():
        device = "cpu" if args.tiny_model else "cuda"
        pipe = random_pipeline(get_family("pixart-alpha"), args.resolution, device=device,
                               tiny=args.tiny_model)
        pipe.save_pretrained(weights)
        del pipe
    lines = (REPO / "prompts" / "calibration-100.txt").read_text().splitlines()
    if args.prompts > len(lines):  # the results record --prompts: never more than ran
        raise SystemExit(f"--prompts {args.prompts}: calibration-100.txt has {len(lines)}")
    prompts = root / "prompts.txt"
    prompts.write_text("\n".join(lines[: args.prompts]) + "\n")
    spec = {
        "name": "pruning-gpu", "family": "pixart-alpha", "weights": str(weights),
        "resolution": 64 if args.tiny_model else args.resolution, "steps": args.steps,
        "guidance": 4.5, "prompts": {"file": str(prompts)},
        "images_per_prompt": args.images_per_prompt,
        "quality": {"scorer": "fidelity", "metric": "psnr"}, "cost": {"mode": "macs"},
        "population": args.population, "generations": 1000, "min_diff": args.steps,
        "initial_population": "random", "shard_size": args.shard_size,
        "batch_size": args.batch_size, "seed": 0,
    }
    path = root / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def spec_for(args: argparse.Namespace, seed: int, pruned: bool):
    from ecad.search import load_spec

    overrides = [f"seed={seed}", f"population={args.population}",
                 f"shard_size={args.shard_size}", f"images_per_prompt={args.images_per_prompt}"]
    if not args.gpu:
        overrides += [f"generations={args.generations}", f"prompts.limit={args.prompts}"]
        if args.resolution:
            overrides.append(f"resolution={args.resolution}")
    if pruned:
        overrides.append(f"pruning={{enabled: true, z: {args.z}, margin: {args.margin}, "
                         f"min_shards: {args.min_shards}}}")
    return load_spec(args.spec, overrides)


def seed_random_embeddings(store, spec) -> None:
    """The random model has no text encoder: random prompt embeddings of the right shapes."""
    from benchmarks.cluster_gpu.run import _embeddings_file

    key, data = _embeddings_file(Path(spec.source))
    if not store.exists(key):
        store.put(key, data)


def fully_evaluated(session, member) -> bool:
    """The member's evaluation record exists, covers every image and gives its quality."""
    plan = session.plan
    cand = plan.candidates([session.history()[-1].population.X[member.index]], 0)[0]
    record = plan.evaluation(session.store, cand.evaluation_key)
    return (record is not None and record.num_images == plan.images_total
            and abs(record.quality - member.quality) < 1e-9)


def run_one(args: argparse.Namespace, seed: int, pruned: bool, generations: int | None,
            deadline: float | None) -> dict:
    """One search in a fresh store, generation by generation, until ``generations`` are done
    (all of the spec's if None) or ``deadline`` (time.time()) has passed."""
    from ecad.search import SearchSession
    from ecad.search.driver import SearchDriver
    from ecad.search.evaluation import Evaluator
    from ecad.search.local import InProcessExecutor
    from ecad.store import open_store

    spec = spec_for(args, seed, pruned)
    mode = "pruned" if pruned else "unpruned"
    store = open_store(str(args.output_dir / "stores" / f"{mode}-seed{seed}"))
    if args.gpu:
        seed_random_embeddings(store, spec)
    session, _ = SearchSession.create(store, spec)
    evaluator = Evaluator(spec, store, device=args.device, dtype=args.dtype, plan=session.plan)
    driver = SearchDriver(session, InProcessExecutor(evaluator))
    started = time.time()
    while driver.step():
        done = len(list(store.list(f"searches/{session.search_id}/generations/")))
        print(f"  {mode} seed {seed}: generation {done - 1} done, {time.time() - started:.0f}s",
              flush=True)
        if generations is not None and done >= generations:
            break
        if deadline is not None and time.time() > deadline:
            break
    history = session.history()
    audited = None
    if pruned and args.audit:
        from benchmarks.pruning.audit import audit

        audited = audit(session, evaluator)
    per_gen = [{
        "generation": r.generation, "images": r.work.images, "images_saved": r.work.images_saved,
        "shard_seconds": round(r.work.shard_seconds, 2), "seconds": round(r.seconds, 2),
        "images_per_second": round(r.work.images / r.seconds, 2) if r.seconds else None,
        "evaluated": r.counts.evaluated, "cached": r.counts.cached, "pruned": r.counts.pruned,
        "hypervolume": r.hypervolume,
    } for r in history]
    return {**run_summary(session, store, seed, mode, started, per_gen), "audit": audited}


def run_summary(session, store, seed: int, mode: str, started: float, per_gen: list) -> dict:
    """One finished search's record in a benchmark result (shared with the pre-selection
    benchmark): totals over its generation records, final hypervolume, front."""
    history, front = session.history(), session.front()
    return {
        "seed": seed, "mode": mode, "search_id": session.search_id,
        "seconds": round(time.time() - started, 1), "generations": len(history),
        "images_generated": sum(r.work.images for r in history),
        "images_saved": sum(r.work.images_saved for r in history),
        "png_objects": sum(1 for k in store.list("images/") if k.endswith(".png")),
        "pruned": sum(r.counts.pruned for r in history),
        "evaluated": sum(r.counts.evaluated for r in history),
        "hypervolume": history[-1].hypervolume,
        "front": [{"quality": m.quality, "relative_cost": m.relative_cost} for m in front],
        "front_fully_evaluated": all(fully_evaluated(session, m) for m in front),
        "per_generation": per_gen,
    }


def compare(unpruned: dict, pruned: dict) -> dict:
    """Over the generations both searches finished (the pruned one may have run out of time)."""
    n = min(unpruned["generations"], pruned["generations"])
    base, ours = unpruned["per_generation"][:n], pruned["per_generation"][:n]
    images = sum(g["images"] for g in ours) / sum(g["images"] for g in base)
    hv = ours[-1]["hypervolume"] / base[-1]["hypervolume"] if base[-1]["hypervolume"] else 1.0
    # At equal cost: the unpruned search's hypervolume once it had generated as many images as
    # the pruned one did in all (the last generation within that many images).
    spent, at_cost = 0, base[0]["hypervolume"]
    for g in base:
        spent += g["images"]
        if spent > sum(g["images"] for g in ours):
            break
        at_cost = g["hypervolume"]
    return {
        "seed": unpruned["seed"], "generations_compared": n,
        "images_ratio": images, "hypervolume_ratio": hv,
        "hypervolume_ratio_at_equal_images": ours[-1]["hypervolume"] / at_cost if at_cost else 1.0,
        "shard_seconds_ratio": (sum(g["shard_seconds"] for g in ours)
                                / max(1e-9, sum(g["shard_seconds"] for g in base))),
        "at_most_half_the_images": images <= 0.5, "hypervolume_at_least_99pct": hv >= 0.99,
        "pruned_front_fully_evaluated": pruned["front_fully_evaluated"],
        "same_generations": unpruned["generations"] == pruned["generations"],
    }


def markdown(result: dict) -> str:
    a = result["args"]
    model = ("full-size random-weight PixArt-α" if a["gpu"] and not a["tiny_model"]
             else "tiny PixArt-α")
    lines = [
        f"# Pruning, {model} on {a['device']}: {a['prompts']} prompts x "
        f"{a['images_per_prompt']} images, stratified shards of {a['shard_size']}, population "
        f"{a['population']}",
        "",
        f"Rule: z = {a['z']}, margin = {a['margin']}, min_shards = {a['min_shards']}. Images: "
        "generated by the search (candidates' and the fidelity references'), from the "
        "driver's per-generation record.",
        "",
        "| seed | mode | generations | images | saved by pruning | pruned | final HV | "
        "front fully evaluated | s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in result["runs"]:
        lines.append(
            f"| {r['seed']} | {r['mode']} | {r['generations']} | {r['images_generated']} | "
            f"{r['images_saved']} | {r['pruned']} | {r['hypervolume']:.4f} | "
            f"{'yes' if r['front_fully_evaluated'] else 'NO'} | {r['seconds']} |"
        )
    lines += ["", "| seed | generations compared | images pruned/unpruned | HV pruned/unpruned | "
              "<= 1/2 | >= 99 % | HV pruned / unpruned at equal images | shard seconds "
              "pruned/unpruned |", "|---|---|---|---|---|---|---|---|"]
    for c in result["comparison"]:
        lines.append(
            f"| {c['seed']} | {c['generations_compared']} | {c['images_ratio']:.3f} | "
            f"{c['hypervolume_ratio']:.4f} | "
            f"{c['at_most_half_the_images']} | {c['hypervolume_at_least_99pct']} | "
            f"{c['hypervolume_ratio_at_equal_images']:.4f} | {c['shard_seconds_ratio']:.3f} |"
        )
    if len(result["comparison"]) > 1:
        def mean(key: str) -> float:
            return sum(c[key] for c in result["comparison"]) / len(result["comparison"])

        lines.append(
            f"| mean | | {mean('images_ratio'):.3f} | {mean('hypervolume_ratio'):.4f} | | | "
            f"{mean('hypervolume_ratio_at_equal_images'):.4f} | {mean('shard_seconds_ratio'):.3f} |"
        )
    audits = [r for r in result["runs"] if r.get("audit")]
    if audits:
        lines += ["", "Audit: every pruned candidate evaluated fully afterwards, its full quality "
                  "compared with the front it met (wrong = it would have reached that front).", "",
                  "| seed | pruned | wrongly pruned | mean estimate - full quality | max abs |",
                  "|---|---|---|---|---|"]
        for r in audits:
            a = r["audit"]
            mean = "" if a["estimate_error_mean"] is None else f"{a['estimate_error_mean']:.4f}"
            worst = "" if a["estimate_error_abs_max"] is None else (
                f"{a['estimate_error_abs_max']:.4f}")
            lines.append(f"| {r['seed']} | {a['pruned']} | {a['wrongly_pruned']} | {mean} | "
                         f"{worst} |")
    lines += ["", "Per generation (images, saved, shard seconds, images/s, pruned):", ""]
    for r in result["runs"]:
        cells = ", ".join(
            f"g{g['generation']}: {g['images']}/{g['images_saved']}/{g['shard_seconds']}s/"
            f"{g['images_per_second']}/{g['pruned']}" for g in r["per_generation"]
        )
        lines.append(f"- seed {r['seed']} {r['mode']}: {cells}")
    return "\n".join(lines) + "\n"


def merge(paths: list[Path], output_dir: Path) -> None:
    """One result from several files (e.g. seeds run apart, or the two searches of a seed run in
    two calls): the first file's settings, every run, comparisons per seed recomputed."""
    results = [json.loads(p.read_text()) for p in paths]
    runs = {(r["seed"], r["mode"]): r for res in results for r in res["runs"]}
    seeds = sorted({seed for seed, _ in runs})
    result = {
        "args": {**results[0]["args"], "seeds": seeds, "merged_from": [str(p) for p in paths]},
        "runs": [runs[(s, m)] for s in seeds for m in ("unpruned", "pruned") if (s, m) in runs],
        "comparison": [compare(runs[(s, "unpruned")], runs[(s, "pruned")]) for s in seeds
                       if (s, "unpruned") in runs and (s, "pruned") in runs],
    }
    name = "pruning-gpu" if result["args"]["gpu"] else "pruning-tiny"
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / f"{name}.json").write_text(json.dumps(result, indent=2))
    (output_dir / f"{name}.md").write_text(markdown(result))
    print(markdown(result))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--output-dir", type=Path, required=True)
    ap.add_argument("--gpu", action="store_true", help="full-size random PixArt-α 256 on cuda")
    ap.add_argument("--tiny-model", action="store_true", help="--gpu's mode with the tiny model")
    ap.add_argument("--budget", type=float, default=480.0,
                    help="--gpu: seconds for both searches of a seed (default 480)")
    ap.add_argument("--spec", type=Path, default=REPO / "specs" / "tiny.yaml")
    ap.add_argument("--seeds", type=int, nargs="+", default=None)
    ap.add_argument("--generations", type=int, default=None,
                    help="offspring generations (CPU: default 6; --gpu: default as many as half "
                         "of --budget allows, given: exactly this many records for both searches)")
    ap.add_argument("--only", choices=("unpruned", "pruned"), default=None,
                    help="run one of the two searches per seed (to split them over calls)")
    ap.add_argument("--baseline", type=Path, default=None,
                    help="an earlier result JSON whose unpruned runs the pruned ones are "
                         "compared with (with --only pruned)")
    ap.add_argument("--population", type=int, default=None)
    ap.add_argument("--prompts", type=int, default=32)
    ap.add_argument("--images-per-prompt", type=int, default=1)
    ap.add_argument("--shard-size", type=int, default=4)
    ap.add_argument("--steps", type=int, default=20, help="--gpu: sampling steps")
    ap.add_argument("--resolution", type=int, default=None,
                    help="image size (--gpu: 256; CPU: the spec's)")
    ap.add_argument("--batch-size", type=int, default=None, help="--gpu: generation batch")
    ap.add_argument("--z", type=float, default=2.5)
    ap.add_argument("--margin", type=float, default=0.0)
    ap.add_argument("--min-shards", type=int, default=2)
    ap.add_argument("--audit", action=argparse.BooleanOptionalAction, default=None,
                    help="evaluate the pruned candidates fully afterwards (default: on the CPU "
                         "yes, with --gpu no)")
    ap.add_argument("--merge", type=Path, nargs="+", default=None,
                    help="run nothing: merge earlier result JSONs (their runs, by seed) into "
                         "one result in --output-dir, comparisons recomputed")
    args = ap.parse_args()
    if args.merge:
        merge(args.merge, args.output_dir)
        return
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    args.output_dir.mkdir(parents=True, exist_ok=True)
    started = time.time()
    if args.gpu:
        args.population = args.population or 24
        args.resolution = args.resolution or 256
        args.seeds = args.seeds or [0]
        args.batch_size = args.batch_size or args.shard_size
        args.device = "cpu" if args.tiny_model else "cuda"
        args.audit = args.tiny_model if args.audit is None else args.audit
        args.dtype = None
        root = Path(tempfile.mkdtemp(prefix="pruning-gpu-"))
        args.spec = full_size_spec(args, root)
    else:
        args.population = args.population or 8
        args.seeds = args.seeds or [0, 1, 2]
        args.device, args.dtype = "cpu", None
        args.generations = 6 if args.generations is None else args.generations
        args.audit = True if args.audit is None else args.audit
    name = "pruning-gpu" if args.gpu else "pruning-tiny"
    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    result: dict = {"args": settings, "runs": [], "comparison": []}
    earlier = json.loads(args.baseline.read_text())["runs"] if args.baseline else []
    fixed = args.generations + 1 if args.gpu and args.generations is not None else None
    for n, seed in enumerate(args.seeds):
        deadline = end = None
        if args.gpu and fixed is None:  # this seed's share of the budget, half for unpruned
            share = (args.budget - (time.time() - started)) / (len(args.seeds) - n)
            deadline = time.time() + 0.5 * share
            end = time.time() + share
        base = next((r for r in earlier if r["seed"] == seed and r["mode"] == "unpruned"), None)
        if args.only != "pruned":
            base = run_one(args, seed, False, fixed, deadline)
            result["runs"].append(base)
        if args.only != "unpruned":
            target = base["generations"] if base is not None else fixed
            pruned = run_one(args, seed, True, target, end)
            result["runs"].append(pruned)
            if base is not None:
                if args.only == "pruned":  # the earlier unpruned run, beside it in the result
                    result["runs"].insert(len(result["runs"]) - 1, base)
                result["comparison"].append(compare(base, pruned))
        (args.output_dir / f"{name}.json").write_text(json.dumps(result, indent=2))
        (args.output_dir / f"{name}.md").write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
