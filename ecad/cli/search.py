"""``ecad search``, ``ecad validate``, ``ecad pareto``, ``ecad report``: single-machine search."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

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

if TYPE_CHECKING:
    from ecad.search.results import FrontRow


@click.command()
@click.argument("spec_file", type=SPEC)
@click.argument("overrides", nargs=-1)
@json_option
@store_option
def validate(spec_file: Path, overrides: tuple[str, ...], as_json: bool,
             store_url: str | None) -> None:
    """Check SPEC_FILE (and key=value OVERRIDES) as submit and search do; report every error
    at once. Writes nothing."""
    from ecad.errors import ConfigError
    from ecad.report.data import readable_spec
    from ecad.search import load_spec
    from ecad.search.session import prepare_search
    from ecad.search.setting import layout_for

    try:
        spec = load_spec(spec_file, list(overrides))
        layout = layout_for(spec)  # resolved once: for local weights it reads their config
        prepare_search(spec, open_store, layout)  # the store only for from_search
    except ConfigError as exc:
        if not as_json:
            raise
        click.echo(json.dumps({"ok": False, "spec_file": str(spec_file), "error": str(exc)},
                              indent=2))
        raise SystemExit(2) from None
    result = {
        "ok": True,
        "search_id": spec.search_id(),
        "layout": layout.describe(),
        "steps": spec.steps,
        "genome_bits": spec.steps * layout.num_slots,
        "spec": readable_spec(spec.to_json()),
    }
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    import yaml

    click.echo(f"ok: search {result['search_id']} - {result['layout']}, {spec.steps} steps, "
               f"genome {result['genome_bits']} bits")
    click.echo(yaml.safe_dump(result["spec"], sort_keys=False).rstrip())


@click.command()
@click.argument("spec_file", required=False, type=SPEC)
@click.argument("overrides", nargs=-1)
@click.option("--resume", "resume_id", default=None, help="Continue the search with this id.")
@click.option("-q", "--quiet", is_flag=True,
              help="No progress output: only the final front and the search id.")
@click.option("--at-quality", "levels", type=float, multiple=True,
              help="Quality level for the per-generation 'best speedup at quality >= LEVEL' "
              "(repeatable; default: a few per scorer, e.g. PSNR 35/30/25 dB).")
@store_option
@device_option
@dtype_option
def search(
    spec_file: Path | None,
    overrides: tuple[str, ...],
    resume_id: str | None,
    quiet: bool,
    levels: tuple[float, ...],
    store_url: str | None,
    device: str,
    dtype: str | None,
) -> None:
    """Run a search on this machine (no Redis/MinIO): a progress bar per generation on stderr
    and one summary line each (plain lines when stderr is not a terminal; -v: per shard).

    Re-running a finished spec evaluates nothing; a killed run continues with --resume ID
    (or by running the same spec again).
    """
    import logging

    from ecad.cli.progress import SearchProgress, quiet_detail_logs
    from ecad.search import load_spec, run_search
    from ecad.search.results import front_rows

    if (spec_file is None) == (resume_id is None):
        raise click.UsageError("give SPEC_FILE or --resume ID")
    spec = load_spec(spec_file, list(overrides)) if spec_file else None  # before any write
    announce_device()
    store = open_store(store_url)
    if spec is not None and not quiet:
        shown = {k: v for k, v in spec.to_json().items() if k != "prompts"}
        click.echo("resolved spec: " + json.dumps(shown, sort_keys=True))
    verbose = logging.getLogger().getEffectiveLevel() <= logging.DEBUG
    quiet_detail_logs("ecad.search")
    observer = SearchProgress(verbose=verbose, quiet=quiet, quality_levels=levels or None)
    session = run_search(
        store, spec=spec, search_id=resume_id, device=device, dtype=dtype,
        progress=_Progress(quiet), observer=observer,
    )
    rows = front_rows(session)
    _print_front(rows, session.spec.to_json()["quality"])
    click.echo(f"search id: {session.search_id}  (ecad pareto {session.search_id} --export DIR)")
    failed = session.counts.failed
    if not rows and failed:  # nothing came out of it: not a success, whatever was printed
        from ecad.errors import EcadError

        raise EcadError(f"search {session.search_id}: all {failed} evaluated candidate(s) "
                        f"failed, the front is empty (reasons: ecad status {session.search_id})")


class _Progress:
    """``run_search``'s text lines: where the search lives goes to stderr; the per-generation
    lines are the progress observer's job."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet

    def __call__(self, line: str) -> None:
        if not self.quiet and line.startswith("search "):
            click.echo(line, err=True)


def _print_front(rows: list[FrontRow], quality: dict) -> None:
    """The front as a table: speedup first, quality in its scorer's unit."""
    from ecad.cli.printable import printable
    from ecad.cli.table import render_table
    from ecad.report.units import quality_unit

    unit = quality_unit(quality)
    click.echo(printable(render_table(
        ["#", "speedup", unit.axis_title, "rel. cost", "reuse", "schedule"],
        [[r.rank, f"{r.speedup:.2f}x", unit.format(r.quality),
          f"{r.relative_cost:.4f}", f"{r.reuse:.1%}", r.name] for r in rows],
        align="rrrrrl",
    ), keep_newlines=True))  # names come from the store


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
def pareto(search_id: str, export_dir: Path | None, as_json: bool, store_url: str | None) -> None:
    """Print the Pareto front of SEARCH_ID (quality, cost, relative cost, speedup)."""
    from ecad.search import SearchSession
    from ecad.search.results import export_front, front_rows

    session = SearchSession.open(open_store(store_url), search_id)
    rows = front_rows(session)
    if as_json:
        click.echo(json.dumps([r.to_json() for r in rows], indent=2))
    else:
        click.echo(
            f"search {search_id}: generation {session.generation}, {session.phase}, "
            f"cost {session.table.mode}"
        )
        _print_front(rows, session.spec.to_json()["quality"])
    if export_dir is not None:
        from ecad.report.snippet import PipelineCall, apply_snippet

        paths = export_front(session, export_dir)
        for path in paths:
            click.echo(f"wrote {path}")
        if paths and not as_json:
            click.echo("\napply one to a pipeline (Python):\n")
            click.echo(apply_snippet(PipelineCall.of_spec(session.spec), str(paths[0])))


@click.command()
@click.argument("search_id")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="HTML file (default: runs/reports/<id>.html).",
)
@click.option("--prompts", type=int, default=3, show_default=True,
              help="Prompts shown in each front member's image grid.")
@click.option("--baselines", type=click.Choice(["evaluate", "stored", "none"]),
              default="evaluate", show_default=True,
              help="Heuristic baselines as reference points: evaluate the missing ones under the "
              "search's setting (stored evaluations are reused), show only stored ones, or none.")
@click.option("--serve", is_flag=True,
              help="Also serve the report on http://127.0.0.1:PORT, rebuilt on each reload.")
@click.option("--port", type=int, default=8765, show_default=True, help="Port for --serve.")
@store_option
@device_option
@dtype_option
def report(search_id: str, output: Path | None, prompts: int, baselines: str, serve: bool,
           port: int, store_url: str | None, device: str, dtype: str | None) -> None:
    """Write a self-contained HTML report of SEARCH_ID: objective space, progress, front members
    (reuse heatmaps, images beside the uncached ones, export and apply lines), baselines, spec."""
    from ecad.report.write import build_report, write_report
    from ecad.search import SearchSession

    store = open_store(store_url)
    options = {"prompts": prompts, "baselines": baselines, "device": device, "dtype": dtype,
               "store_url": store_url, "log": lambda m: click.echo(m, err=True)}
    path = write_report(SearchSession.open(store, search_id),
                        output or Path("runs/reports") / f"{search_id}.html", **options)
    click.echo(f"wrote {path}")
    if serve:
        from ecad.report.serve import serve_report

        options["baselines"] = "stored" if baselines != "none" else "none"
        serve_report(lambda: build_report(SearchSession.open(store, search_id), **options), port,
                     log=lambda m: click.echo(m, err=True))
