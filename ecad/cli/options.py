"""Options shared by several commands."""

from __future__ import annotations

import click

from ecad.families import family_names
from ecad.store import default_store_url

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
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")
store_option = click.option(
    "--store",
    "store_url",
    default=default_store_url,
    show_default="$ECAD_STORE or runs/store",
    help="Object store: a directory, file:///dir, or s3://bucket (MinIO/S3 from env).",
)
