"""``ecad weights fetch``: model weights onto this host before any work needs them."""

from __future__ import annotations

import click

from ecad.credentials import refuse_placeholders


@click.group()
def weights() -> None:
    """Model weights: fetch them ahead of work (workers then run offline)."""


@weights.command()
@click.argument("names", nargs=-1)
@click.option("--local-dir", default=None,
              help="Download into this directory (a diffusers pipeline directory to give as "
              "weights) instead of the hub cache ($HF_HOME).")
def fetch(names: tuple[str, ...], local_dir: str | None) -> None:
    """Fetch the weights of NAMES: model families (their default weights), FAMILY:WEIGHTS, or
    search specs (files or shipped names); default $ECAD_WORKER_WARM.

    Hub weights go through huggingface_hub's snapshot_download (only the files the pipeline
    loads), with HF_TOKEN for gated models; with HF_HUB_OFFLINE=1 they must already be cached.
    'tiny' weights are built locally."""
    from ecad.families.fetch import fetch_weights, warm_names, weights_target

    refuse_placeholders("ecad weights fetch", ["HF_TOKEN"])
    names = names or tuple(warm_names())
    if not names:
        click.echo("nothing to fetch (no NAMES and ECAD_WORKER_WARM is empty)", err=True)
        return
    for name in names:
        target = weights_target(name)
        click.echo(f"{name}: {target} -> {fetch_weights(target, local_dir)}")
