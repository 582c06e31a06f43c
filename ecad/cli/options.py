"""Options shared by several commands."""

from __future__ import annotations

import os
from pathlib import Path

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


def resolve_device(value: str) -> str:
    """``auto`` -> ``cuda`` when a CUDA device is visible, else ``cpu`` (said on stderr); other
    values (cpu, cuda, cuda:1, mps) pass through."""
    if value != "auto":
        return value
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    click.echo(f"device: {device} (auto)", err=True)
    return device


device_option = click.option(
    "--device",
    default=lambda: os.environ.get("ECAD_DEVICE", "auto"),
    show_default="$ECAD_DEVICE or auto",
    callback=lambda _ctx, _param, value: resolve_device(value),
    help="torch device: auto (cuda when available), cuda, cuda:N, cpu.",
)
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


class ShippedFile(click.ParamType):
    """A file path, or the name of a file shipped with ECAD (``tiny``, ``pixart-alpha/fora-2``)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.name = f"FILE|{kind.upper()}_NAME"

    def convert(self, value, param, ctx) -> Path:
        from ecad.resources import find_schedule, find_spec, shipped

        found = (find_spec if self.kind == "specs" else find_schedule)(value)
        if found is None:
            names = ", ".join(shipped(self.kind))
            self.fail(f"{value!r} is neither a file nor a shipped {self.kind[:-1]} ({names})",
                      param, ctx)
        return Path(found)


SPEC = ShippedFile("specs")
SCHEDULE = ShippedFile("schedules")
