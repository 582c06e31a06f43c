"""Pruning on the tiny model (CPU): the same search with and without pruning, several seeds.

    python benchmarks/pruning/run.py --output-dir $OUT                      # both halves
    python benchmarks/pruning/run.py --output-dir /tmp/p --unpruned-only    # runs today

For each seed: a fresh store, the tiny PixArt-α search (``specs/tiny.yaml``: fidelity PSNR,
MACs cost) with ``--prompts`` prompts so its ``--shard-size`` shards differ, run for the same
number of generations without and with ``pruning: {enabled: true, z, margin, min_shards}``.
Reports per seed: images generated (PNG objects in the store: candidates' and reference images),
the final front's hypervolume, and whether every front member is fully evaluated; and the
issue's criteria (pruned images <= 1/2 of unpruned, hypervolume >= 99 % of unpruned).

NEEDS ISSUE 14 PART B for the pruned half: until the search driver reads the spec's ``pruning``
section, ``load_spec`` rejects it ("pruning: unknown field") and the pruned half is reported as
not run. The unpruned half runs today and, with ``replay.py``, says what the rule would have cut
in that very search (same scores, stratified shards; see replay.py for what that is not).

Writes ``<output-dir>/pruning-tiny.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

NEEDS_PART_B = "needs issue 14 part B: the search does not read a 'pruning' spec section yet"


def spec_for(args: argparse.Namespace, seed: int, pruned: bool):
    from ecad.errors import ConfigError
    from ecad.search import load_spec

    overrides = [
        f"seed={seed}",
        f"generations={args.generations}",
        f"population={args.population}",
        f"prompts.limit={args.prompts}",
        f"shard_size={args.shard_size}",
        f"images_per_prompt={args.images_per_prompt}",
    ]
    if pruned:
        overrides.append(
            f"pruning={{enabled: true, z: {args.z}, margin: {args.margin}, "
            f"min_shards: {args.min_shards}}}"
        )
    try:
        return load_spec(args.spec, overrides)
    except ConfigError as exc:
        if pruned and "pruning: unknown field" in str(exc):
            return None
        raise


def fully_evaluated(session, member: dict) -> bool:
    """The member's evaluation record exists and covers every image (today's store layout)."""
    from ecad.search.setting import evaluation_key

    setting = session.setting
    key = evaluation_key(setting.generation_key(member["schedule"]), session.spec.quality)
    path = f"evaluations/{key}.json"
    if not session.store.exists(path):
        return False
    total = len(setting.prompts) * session.spec.images_per_prompt
    return session.store.get_json(path)["num_images"] == total


def run_one(args: argparse.Namespace, seed: int, pruned: bool) -> dict:
    from benchmarks.pruning.replay import replay
    from ecad.search import run_search
    from ecad.search.pruning import PruningConfig
    from ecad.store import open_store

    spec = spec_for(args, seed, pruned)
    mode = "pruned" if pruned else "unpruned"
    if spec is None:
        return {"seed": seed, "mode": mode, "run": False, "why": NEEDS_PART_B}
    store = open_store(str(args.output_dir / "stores" / f"{mode}-seed{seed}"))
    started = time.time()
    session = run_search(store, spec, device="cpu", progress=lambda line: print(f"  {line}"))
    seconds = time.time() - started
    history = session.history()
    front = session.front()
    result = {
        "seed": seed,
        "mode": mode,
        "run": True,
        "search_id": session.search_id,
        "seconds": round(seconds, 1),
        "generations": len(history),
        "images_generated": sum(1 for k in store.list("images/") if k.endswith(".png")),
        "hypervolume": history[-1]["hypervolume"],
        "front": [{"quality": m["quality"], "relative_cost": m["relative_cost"]} for m in front],
        "front_fully_evaluated": all(fully_evaluated(session, m) for m in front),
    }
    if not pruned:
        rule = PruningConfig(enabled=True, z=args.z, margin=args.margin, min_shards=args.min_shards)
        result["replay"] = replay(session, rule)
    return result


def compare(unpruned: dict, pruned: dict) -> dict:
    if not pruned["run"]:
        return {"seed": unpruned["seed"], "pruned_run": False}
    images = pruned["images_generated"] / unpruned["images_generated"]
    hv = pruned["hypervolume"] / unpruned["hypervolume"] if unpruned["hypervolume"] else 1.0
    return {
        "seed": unpruned["seed"],
        "pruned_run": True,
        "images_ratio": images,
        "hypervolume_ratio": hv,
        "at_most_half_the_images": images <= 0.5,
        "hypervolume_at_least_99pct": hv >= 0.99,
        "pruned_front_fully_evaluated": pruned["front_fully_evaluated"],
    }


def markdown(result: dict) -> str:
    a = result["args"]
    lines = [
        f"# Pruning on the tiny model (CPU): {a['prompts']} prompts x {a['images_per_prompt']} "
        f"images, shards of {a['shard_size']}, population {a['population']}, "
        f"{a['generations']} generations",
        "",
        f"Rule: z = {a['z']}, margin = {a['margin']}, min_shards = {a['min_shards']}.",
        "",
        "| seed | mode | images generated | final hypervolume | front fully evaluated | s |",
        "|---|---|---|---|---|---|",
    ]
    for r in result["runs"]:
        if not r["run"]:
            lines.append(f"| {r['seed']} | {r['mode']} | not run: {r['why']} | | | |")
            continue
        lines.append(
            f"| {r['seed']} | {r['mode']} | {r['images_generated']} | {r['hypervolume']:.4f} | "
            f"{'yes' if r['front_fully_evaluated'] else 'NO'} | {r['seconds']} |"
        )
    lines += [
        "",
        "Replay of the rule over each unpruned search (its own scores, stratified shards; not a "
        "pruned search: see replay.py):",
        "",
        "| seed | candidate images | with the rule | kept | pruned | pruned but on the front |",
        "|---|---|---|---|---|---|",
    ]
    for r in result["runs"]:
        if r.get("replay"):
            p = r["replay"]
            lines.append(
                f"| {r['seed']} | {p['candidate_images']} | {p['candidate_images_with_pruning']} "
                f"| {p['fraction_kept']:.1%} | {p['pruned']} | {p['pruned_on_front']} |"
            )
    if any(c["pruned_run"] for c in result["comparison"]):
        lines += ["", "| seed | images pruned/unpruned | HV pruned/unpruned | <= 1/2 | >= 99 % |",
                  "|---|---|---|---|---|"]  # fmt: skip
        for c in result["comparison"]:
            if c["pruned_run"]:
                lines.append(
                    f"| {c['seed']} | {c['images_ratio']:.3f} | {c['hypervolume_ratio']:.4f} | "
                    f"{c['at_most_half_the_images']} | {c['hypervolume_at_least_99pct']} |"
                )
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--output-dir", type=Path, required=True)
    ap.add_argument("--spec", type=Path, default=REPO / "specs" / "tiny.yaml")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--generations", type=int, default=10)
    ap.add_argument("--population", type=int, default=12)
    ap.add_argument("--prompts", type=int, default=32)
    ap.add_argument("--images-per-prompt", type=int, default=1)
    ap.add_argument("--shard-size", type=int, default=4)
    ap.add_argument("--z", type=float, default=2.5)
    ap.add_argument("--margin", type=float, default=0.0)
    ap.add_argument("--min-shards", type=int, default=2)
    ap.add_argument("--unpruned-only", action="store_true", help="skip the pruned half")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    args.output_dir.mkdir(parents=True, exist_ok=True)

    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    result: dict = {"args": settings, "runs": [], "comparison": []}
    for seed in args.seeds:  # results are written after every seed: a cut-short run keeps them
        print(f"seed {seed}: unpruned")
        base = run_one(args, seed, pruned=False)
        result["runs"].append(base)
        if not args.unpruned_only:
            print(f"seed {seed}: pruned")
            pruned = run_one(args, seed, pruned=True)
            result["runs"].append(pruned)
            result["comparison"].append(compare(base, pruned))
        (args.output_dir / "pruning-tiny.json").write_text(json.dumps(result, indent=2))
        (args.output_dir / "pruning-tiny.md").write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
