"""``ecad cost``: what a schedule costs under a cost model."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ecad.cli.options import SCHEDULE, json_option


@click.command()
@click.argument("schedule_file", type=SCHEDULE)
@click.option(
    "--resolution",
    type=int,
    default=None,
    help="Image size (default: the file's config height, else the family default).",
)
@click.option(
    "--batch-size",
    "batch",
    type=int,
    default=2,
    show_default=True,
    help="Rows per transformer call (PixArt CFG: 2 per image).",
)
@click.option(
    "--mode",
    type=click.Choice(["macs", "macs-linear"]),
    default="macs",
    show_default=True,
    help="macs-linear reproduces the published ECAD numbers.",
)
@click.option("--text-tokens", type=int, default=None, help="Override the text length.")
@click.option(
    "--table",
    "table_file",
    type=click.Path(exists=True, path_type=Path),
    default=None,
    help="Use a saved cost table (e.g. measured latency) instead.",
)
@json_option
def cost(
    schedule_file: Path,
    resolution: int | None,
    batch: int,
    mode: str,
    text_tokens: int | None,
    table_file: Path | None,
    as_json: bool,
) -> None:
    """Print the total and relative cost of SCHEDULE_FILE."""
    from ecad.cost import CostTable
    from ecad.cost.published import check_published
    from ecad.schedules import read_schedule

    schedule = read_schedule(schedule_file)
    if table_file is not None:
        table = CostTable.load(table_file)
    else:  # counting needs the model's modules (torch); a stored table does not
        from ecad.cost import macs_table

        config = schedule.metadata.config or {}
        res = resolution or config.get("height") or schedule.layout.family.default_resolution
        table = macs_table(schedule.layout.family, int(res), batch, mode, text_tokens)
    total = table.schedule_cost(schedule)
    full = table.full_cost(schedule.steps)
    report = {
        "schedule": schedule.metadata.name,
        "family": schedule.layout.family_name,
        "mode": table.mode,
        "unit": table.unit,
        "resolution": table.resolution,
        "batch": table.batch,
        "steps": schedule.steps,
        "total": total,
        "no_cache_total": full,
        "relative_cost": total / full,
        "predicted_speedup": full / total,
    }
    if schedule.custom_attention is not None:
        report["custom_attention"] = schedule.custom_attention.describe()
    published = check_published(schedule)
    if published is not None:
        report["published"] = published.to_json()
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    scale, suffix = (1e12, "T") if table.unit == "MACs" else (1.0, "")
    click.echo(f"{schedule.metadata.name} ({schedule.layout.describe()}, {schedule.steps} steps)")
    click.echo(f"  cost model     {table.mode} at {table.resolution}px, batch {table.batch}")
    click.echo(f"  total          {total / scale:.4f} {suffix}{table.unit}")
    click.echo(f"  no cache       {full / scale:.4f} {suffix}{table.unit}")
    click.echo(f"  relative cost  {total / full:.4f}  (predicted speedup {full / total:.2f}x)")
    custom = schedule.custom_attention
    if custom is not None:
        after = "half batch after it" if custom.opens_within(schedule.steps) else "never opens"
        click.echo(f"  counted as     {custom.describe()}: {after}")
    if published is not None:
        click.echo(f"  published      {published.total / 1e12:.4f} TMACs: {published.describe()}")
        if published.stale_config or not published.reproduced:
            click.echo(
                f"warning: {schedule_file}: metrics.total_macs {published.describe()}", err=True
            )
