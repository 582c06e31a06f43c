"""Options shared by several commands."""

from __future__ import annotations

import os
from pathlib import Path

import click

from ecad.families import family_names


class FamilyParam(click.ParamType):
    """A built-in family name (or alias), or a family record file (``ecad family derive``);
    the value passed on is the family's canonical name (a derived family's ``name@digest``)."""

    name = "FAMILY|FILE"

    def convert(self, value, param, ctx) -> str:
        from ecad.errors import FamilyError
        from ecad.families import get_family

        try:
            return get_family(str(value)).name
        except FamilyError as exc:
            self.fail(f"{exc} (built-in: {', '.join(family_names())})", param, ctx)


family_option = click.option(
    "--family",
    "family_name",
    required=True,
    type=FamilyParam(),
    help="Model family: a built-in name, or a family record file (ecad family derive).",
)
weights_option = click.option(
    "--weights",
    default=None,
    help="Hub id or local pipeline directory (default: the family's hub id; 'tiny' = a "
    "random-weight model of the real architecture).",
)


def resolve_device(value: str) -> str:
    """``auto`` -> ``cuda`` when a CUDA device is visible, else ``cpu``; other values (cpu, cuda,
    cuda:1, mps) pass through."""
    if value != "auto":
        return value
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


_AUTO_DEVICE = "ecad.auto_device"


def _device_callback(ctx: click.Context, _param: click.Parameter, value: str) -> str:
    device = resolve_device(value)
    if value == "auto":
        ctx.meta[_AUTO_DEVICE] = device
    return device


def announce_device() -> None:
    """Say on stderr which device ``--device auto`` chose, once the command's input has been
    checked (a bad input gives its one error line and nothing else)."""
    ctx = click.get_current_context(silent=True)
    device = ctx.meta.pop(_AUTO_DEVICE, None) if ctx is not None else None
    if device is not None:
        click.echo(f"device: {device} (auto)", err=True)


device_option = click.option(
    "--device",
    default=lambda: os.environ.get("ECAD_DEVICE", "auto"),
    show_default="$ECAD_DEVICE or auto",
    callback=_device_callback,
    help="torch device: auto (cuda when available), cuda, cuda:N, cpu.",
)
dtype_option = click.option(
    "--dtype",
    default=None,
    help="float32/float16/bfloat16 (default: float32 on CPU, else the family's).",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def _store_callback(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    # As `ecad --store`: the store of this command and of what it starts (a worker's processes).
    if value:
        os.environ["ECAD_STORE"] = value
    return value


#: Every command that opens the store takes it: ``ecad status --store X`` = ``ecad --store X
#: status``. None when not given: the store is then read from the environment when opened, after
#: a command's ``--config`` has been applied.
store_option = click.option(
    "--store",
    "store_url",
    default=None,
    show_default="$ECAD_STORE or runs/store",
    callback=_store_callback,
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


def compile_options(f):
    """``--compile MODE`` and ``--compile-backend``: serve schedules compiled
    (``ecad.caching.compiled``)."""
    f = click.option(
        "--compile-scope",
        type=click.Choice(["transformer", "blocks"]),
        default="transformer",
        show_default=True,
        help="transformer: one graph per step pattern; blocks: one per block pattern (far fewer "
        "compilations for learned schedules; CUDA graphs still capture whole steps).",
    )(f)
    f = click.option(
        "--compile-backend",
        default="inductor",
        show_default=True,
        help="torch.compile backend (eager / aot_eager to debug without inductor; none: no "
        "compiler, CUDA graphs of the eager engine, with reduce-overhead or max-autotune).",
    )(f)
    return click.option(
        "--compile",
        "compile_mode",
        type=click.Choice(["default", "reduce-overhead", "max-autotune"]),  # COMPILE_MODES
        default=None,
        help="Compile the transformer once per step pattern of the schedule (torch.compile "
        "mode; reduce-overhead and max-autotune also capture CUDA graphs). Default: eager.",
    )(f)


def backend_of(value: str) -> str | None:
    """``--compile-backend`` as ``ScheduleCacheConfig.compile_backend`` takes it."""
    return None if value == "none" else value
