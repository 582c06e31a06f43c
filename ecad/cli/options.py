"""Options shared by several commands."""

from __future__ import annotations

import click

from ecad.families import family_names

family_option = click.option(
    "--family",
    "family_name",
    required=True,
    type=click.Choice(family_names(), case_sensitive=False),
    help="Model family.",
)
weights_option = click.option(
    "--weights",
    default=None,
    help="Hub id or local pipeline directory (default: the family's hub id; 'tiny' = a "
    "random-weight model of the real architecture).",
)
device_option = click.option("--device", default="cpu", show_default=True, help="torch device.")
dtype_option = click.option(
    "--dtype",
    default=None,
    help="float32/float16/bfloat16 (default: float32 on CPU, else the family's).",
)
