"""``ecad schedule``: make heuristic schedules, write the baselines, summarise a file."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ecad.cli.options import SCHEDULE, family_option, json_option
from ecad.families import family_names, get_family
from ecad.report.units import speedup
from ecad.schedules import Schedule, ScheduleLayout, read_schedule, write_schedule
from ecad.schedules.baselines import baseline_schedules
from ecad.schedules.catalog import HEURISTIC_NAMES, HeuristicCall, heuristic
from ecad.schedules.heuristics import evenly_spaced
from ecad.schedules.summary import reuse_bar, summarize


@click.group()
def schedule() -> None:
    """Make, inspect and convert caching schedules."""


def _parse_blocks(values: tuple[str, ...]) -> dict[str, int]:
    out = {}
    for item in values:
        group, _, count = item.partition("=")
        if not count.isdigit():
            raise click.BadParameter(
                f"{item!r}: use GROUP=COUNT, e.g. blocks=2", param_hint="--num-blocks"
            )
        out[group] = int(count)
    return out


@schedule.command()
@click.argument("kind", type=click.Choice([*HEURISTIC_NAMES, "evenly-spaced"]))
@family_option
@click.option("--steps", type=int, default=None, help="Denoising steps (family default).")
@click.option("--n", type=int, default=3, show_default=True, help="Period of the every-n kinds.")
@click.option("--k", type=int, default=2, show_default=True, help="tgate kinds: self-attn period.")
@click.option("--m", type=int, default=8, show_default=True, help="tgate kinds: gate step.")
@click.option(
    "--num-affected-steps", type=int, default=9, show_default=True, help="*_evenly_spaced kinds."
)
@click.option(
    "--num-affected-blocks", type=int, default=3, show_default=True, help="*_evenly_spaced kinds."
)
@click.option("--component", default=None, help="evenly-spaced: the component to reuse.")
@click.option("--num-reuse-steps", type=int, default=5, show_default=True)
@click.option("--blocks", default=None, help="evenly-spaced: comma-separated block indices.")
@click.option("--p-reuse", type=float, default=0.5, show_default=True, help="random: P(reuse).")
@click.option("--seed", type=int, default=0, show_default=True, help="random: seed.")
@click.option("--num-blocks", multiple=True, help="GROUP=COUNT for small models (blocks=2).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True)
def make(
    kind: str,
    family_name: str,
    steps: int | None,
    component: str | None,
    num_reuse_steps: int,
    blocks: str | None,
    seed: int,
    num_blocks: tuple[str, ...],
    output: Path,
    **values: float,
) -> None:
    """Write a heuristic schedule of KIND to OUTPUT (published JSON format).

    The paper's heuristics use the reference's names (recompute_all_every_n, tgate, ...:
    `ecad schedule kinds` lists them with their parameters); the others are this project's.
    """
    family = get_family(family_name)
    layout = ScheduleLayout.for_family(family, _parse_blocks(num_blocks))
    steps = steps or family.default_steps
    if kind == "evenly-spaced":
        if component is None:
            raise click.BadParameter(
                f"choose one of {list(family.components)}", param_hint="--component"
            )
        block_list = [int(b) for b in blocks.split(",")] if blocks else None
        result = evenly_spaced(layout, steps, component, num_reuse_steps, block_list)
    else:
        params = {p: values[p] for p in heuristic(kind).params}
        result = HeuristicCall.of(kind, **params).build(layout, steps, seed)
    write_schedule(result, output)
    click.echo(f"wrote {result!r} to {output}")


@schedule.command()
def kinds() -> None:
    """List every heuristic KIND of `ecad schedule make` with its parameters."""
    for name in HEURISTIC_NAMES:
        h = heuristic(name)
        origin = "paper" if h.published else "ecad"
        params = f"({', '.join(h.params)})" if h.params else ""
        click.echo(f"{name}{params}  [{origin}; {h.kinds_text}]  {h.doc}")
    click.echo("evenly-spaced(component, num_reuse_steps, blocks)  [ecad]  one component reused")


@schedule.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--family",
    "families",
    multiple=True,
    type=click.Choice(family_names()),
    help="Families to write (default: all).",
)
def baselines(directory: Path, families: tuple[str, ...]) -> None:
    """Write the heuristic baselines of each family under DIRECTORY/<family>/."""
    for name in families or family_names():
        family = get_family(name)
        layout = ScheduleLayout.for_family(family)
        for sched in baseline_schedules(layout, family.default_steps):
            path = write_schedule(sched, directory / name / f"{sched.metadata.name}.json")
            click.echo(f"wrote {path}")


@schedule.command()
@click.argument("schedule_file", type=SCHEDULE)
@click.option("--resolution", type=int, default=None, help="Resolution for the cost column.")
@click.option("--steps/--no-steps", "per_step", default=True, help="Show the per-step table.")
@json_option
def show(schedule_file: Path, resolution: int | None, per_step: bool, as_json: bool) -> None:
    """Summarise SCHEDULE_FILE: reuse per component and per step, and its cost."""
    sched = read_schedule(schedule_file)
    info = summarize(sched)
    info["cost"] = _predicted_costs(sched, resolution)
    if as_json:
        click.echo(json.dumps(info, indent=2))
        return
    click.echo(
        f"{info['name']}  [{info['layout']}, {info['steps']} steps, digest {info['digest'][:12]}]"
    )
    click.echo(
        f"reuse overall      {info['reuse_fraction']:6.1%}  "
        f"({info['reused_slots']}/{info['slots']} slots ever reused)"
    )
    for comp, frac in info["reuse_by_component"].items():
        click.echo(f"  {comp:<17}{frac:6.1%}  {reuse_bar(frac)}")
    for mode, c in info["cost"].items():
        click.echo(f"cost ({mode:<11}) {c['relative_cost']:6.1%} of no-cache at "
                   f"{c['resolution']}px (predicted {speedup(c['relative_cost'])})")
    if per_step:
        click.echo("step  reuse")
        for i, frac in enumerate(info["reuse_by_step"]):
            click.echo(f"{i:>4}  {frac:6.1%}  {reuse_bar(frac)}")


def _predicted_costs(sched: Schedule, resolution: int | None) -> dict[str, dict[str, float]]:
    """Relative cost under each MACs model; only for full-size layouts (tiny ones have none)."""
    full_size = all(
        count == g.num_blocks
        for (_, count), g in zip(sched.layout.block_counts, sched.layout.family.block_groups)
    )
    if not full_size:
        return {}
    from ecad.cost import macs_table

    config = sched.metadata.config or {}
    res = int(resolution or config.get("height") or sched.layout.family.default_resolution)
    out = {}
    for mode in ("macs", "macs-linear"):
        rel = macs_table(sched.layout.family, res, 2, mode).relative_cost(sched)
        out[mode] = {"resolution": res, "relative_cost": rel, "predicted_speedup": 1 / rel}
    return out
