"""``ecad tiny``: write a tiny random-weight pipeline of a family's real architecture."""

from __future__ import annotations

from pathlib import Path

import click

from ecad.cli.options import family_option
from ecad.families import get_family
from ecad.families.loading import save_tiny_pipeline


@click.command()
@family_option
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--seed", default=0, show_default=True, help="Seed of the random weights.")
def tiny(family_name: str, directory: Path, seed: int) -> None:
    """Save a tiny random-weight pipeline to DIRECTORY (loads like a hub id)."""
    if directory.exists() and any(directory.iterdir()):
        raise click.BadParameter(f"{directory} exists and is not empty", param_hint="DIRECTORY")
    if directory.exists():
        directory.rmdir()
    directory.parent.mkdir(parents=True, exist_ok=True)
    save_tiny_pipeline(get_family(family_name), directory, seed=seed)
    click.echo(f"wrote tiny {family_name} pipeline to {directory}")
