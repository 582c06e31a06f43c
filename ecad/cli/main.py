"""Entry point of the ``ecad`` command."""

import click


@click.group()
def cli() -> None:
    """ECAD: learn and apply caching schedules for diffusion transformers."""


def main() -> None:
    cli()
