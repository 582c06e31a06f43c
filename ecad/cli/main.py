"""Entry point of the ``ecad`` command: one group, subcommands registered from their modules."""

from __future__ import annotations

import logging
import os
import sys

import click

from ecad import __version__
from ecad.cli.bench import bench
from ecad.cli.cluster import apply_config, cancel, scheduler, status, submit, worker
from ecad.cli.cost import cost
from ecad.cli.errors import run_cli
from ecad.cli.family import family
from ecad.cli.generate import embed, generate
from ecad.cli.schedule import schedule
from ecad.cli.score import score
from ecad.cli.search import pareto, report, search, validate
from ecad.cli.tiny import tiny
from ecad.cli.weights import weights
from ecad.library_logs import quiet_model_libraries
from ecad.secret_files import load_secret_files


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ecad")
@click.option("-v", "--verbose", is_flag=True, help="Log debug messages.")
@click.option("--config", "config_file", default=None, metavar="FILE",
              help="YAML file of ECAD_* settings for every command (default: $ECAD_CONFIG); "
              "the environment wins over it.")
@click.option("--store", "store_url", default=None,
              help="Object store of every command (sets $ECAD_STORE): a directory, "
              "file:///dir or s3://bucket.")
@click.option("--device", default=None,
              help="Default torch device of every command (sets $ECAD_DEVICE): auto (cuda when "
              "available, the default), cuda, cpu.")
def cli(verbose: bool, config_file: str | None, store_url: str | None,
        device: str | None) -> None:
    """ECAD: learn and apply caching schedules for diffusion transformers."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not verbose:  # diffusers/transformers notices and loading bars: keep the output ours
        quiet_model_libraries()
    load_secret_files()  # credentials mounted as files (compose secrets, k8s secret volumes)
    # Before the command parses its options: their defaults read these variables.
    apply_config(config_file)
    for name, value in (("ECAD_STORE", store_url), ("ECAD_DEVICE", device)):
        if value:
            os.environ[name] = value


for command in (
    schedule, cost, embed, generate, tiny, score, validate, search, pareto, report,
    submit, status, cancel, worker, scheduler, bench, weights, family,
):
    cli.add_command(command)


def main() -> None:
    sys.exit(run_cli(cli))  # exit statuses and error lines: ecad/cli/errors.py
