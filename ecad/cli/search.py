"""``ecad search``, ``ecad validate``, ``ecad pareto``, ``ecad report``: single-machine search."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ecad.cli.options import (
    SPEC,
    announce_device,
    device_option,
    dtype_option,
    json_option,
    store_option,
)
from ecad.store import open_store


@click.command()
@click.argument("spec_file", type=SPEC)
@click.argument("overrides", nargs=-1)
def validate(spec_file: Path, overrides: tuple[str, ...]) -> None:
    """Check SPEC_FILE (and key=value OVERRIDES) as submit and search do; report every error
    at once. Writes nothing."""
    from ecad.search import load_spec
    from ecad.search.session import prepare_search
    from ecad.search.setting import layout_for

    spec = load_spec(spec_file, list(overrides))
    prepare_search(spec, open_store)  # the store only for from_search (the other front)
    layout = layout_for(spec)
    click.echo(
        f"ok: search {spec.search_id()} - {layout.describe()}, {spec.steps} steps, "
        f"genome {spec.steps * layout.num_slots} bits"
    )
    click.echo(json.dumps({k: v for k, v in spec.to_json().items() if k != "prompts"}, indent=2))
    click.echo(f"prompts: {len(spec.prompts.texts)} from {spec.prompts.file}")


@click.command()
@click.argument("spec_file", required=False, type=SPEC)
@click.argument("overrides", nargs=-1)
@click.option("--resume", "resume_id", default=None, help="Continue the search with this id.")
@store_option
@device_option
@dtype_option
def search(
    spec_file: Path | None,
    overrides: tuple[str, ...],
    resume_id: str | None,
    store_url: str,
    device: str,
    dtype: str | None,
) -> None:
    """Run a search on this machine (no Redis/MinIO) and print progress per generation.

    Re-running a finished spec evaluates nothing; a killed run continues with --resume ID
    (or by running the same spec again).
    """
    from ecad.search import load_spec, run_search
    from ecad.search.results import front_rows

    if (spec_file is None) == (resume_id is None):
        raise click.UsageError("give SPEC_FILE or --resume ID")
    spec = load_spec(spec_file, list(overrides)) if spec_file else None  # before any write
    announce_device()
    store = open_store(store_url)
    if spec is not None:
        shown = {k: v for k, v in spec.to_json().items() if k != "prompts"}
        click.echo("resolved spec: " + json.dumps(shown, sort_keys=True))
    session = run_search(
        store, spec=spec, search_id=resume_id, device=device, dtype=dtype, progress=click.echo
    )
    _print_front(front_rows(session))
    click.echo(f"search id: {session.search_id}  (ecad pareto {session.search_id} --export DIR)")


def _print_front(rows: list[dict]) -> None:
    click.echo(f"{'#':>3} {'quality':>9} {'rel.cost':>9} {'speedup':>8} {'reuse':>6}  schedule")
    for r in rows:
        click.echo(
            f"{r['rank']:>3} {r['quality']:>9.4f} {r['relative_cost']:>9.4f} "
            f"{r['speedup']:>7.2f}x {r['reuse']:>6.1%}  {r['name']}"
        )


@click.command()
@click.argument("search_id")
@click.option(
    "--export",
    "export_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Write each front member as a schedule JSON here.",
)
@json_option
@store_option
def pareto(search_id: str, export_dir: Path | None, as_json: bool, store_url: str) -> None:
    """Print the Pareto front of SEARCH_ID (quality, cost, relative cost, speedup)."""
    from ecad.search import SearchSession
    from ecad.search.results import export_front, front_rows

    session = SearchSession.open(open_store(store_url), search_id)
    rows = front_rows(session)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
    else:
        click.echo(
            f"search {search_id}: generation {session.generation}, {session.phase}, "
            f"cost {session.table.mode}"
        )
        _print_front(rows)
    if export_dir is not None:
        for path in export_front(session, export_dir):
            click.echo(f"wrote {path}")


@click.command()
@click.argument("search_id")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="HTML file (default: runs/reports/<id>.html).",
)
@store_option
def report(search_id: str, output: Path | None, store_url: str) -> None:
    """Write a self-contained HTML report (Pareto plots, image grid) for SEARCH_ID."""
    from ecad.search import SearchSession
    from ecad.search.report import write_report

    session = SearchSession.open(open_store(store_url), search_id)
    path = write_report(session, output or Path("runs/reports") / f"{search_id}.html")
    click.echo(f"wrote {path}")
