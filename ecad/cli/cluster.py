"""Cluster commands: ``ecad submit``, ``status``, ``cancel``, ``worker``, ``scheduler``.

Settings come from the environment (``ECAD_STORE``, ``ECAD_BROKER_URL``, ``ECAD_S3_*``...) or
from a YAML config file (``--config`` or ``$ECAD_CONFIG``) whose keys are the same variable
names; the environment wins over the file.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

import click

from ecad import heartbeat
from ecad.cli.options import SPEC, json_option, store_option
from ecad.credentials import refuse_placeholders
from ecad.environment import env_float, env_int
from ecad.errors import ConfigError, EcadError, TransientError
from ecad.store import open_store
from ecad.store.records import StoreObjectError


def apply_config(path: str | None) -> None:
    """Load ``KEY: value`` pairs from a YAML file into the environment (env wins)."""
    path = path or os.environ.get("ECAD_CONFIG")
    if not path:
        return
    from ecad.yamlfile import read_yaml

    data = read_yaml(path, "cluster config") or {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: cluster config must be a mapping of ECAD_* variables")
    for key, value in data.items():
        if not str(key).startswith(("ECAD_", "HF_")):
            raise ConfigError(f"{path}: unknown setting {key!r} (use ECAD_* variable names)")
        os.environ.setdefault(str(key), str(value))


config_option = click.option(
    "--config",
    "config_file",
    default=None,
    help="YAML file of ECAD_* settings (default: $ECAD_CONFIG).",
)


@click.command()
@click.argument("spec_file", type=SPEC)
@click.argument("overrides", nargs=-1)
@config_option
@store_option
def submit(spec_file: Path, overrides: tuple[str, ...], config_file: str | None,
           store_url: str | None) -> None:
    """Validate SPEC_FILE, store it, and print the search id for the scheduler to run."""
    from ecad.search import SearchSession, load_spec

    apply_config(config_file)
    spec = load_spec(spec_file, list(overrides))
    session, created = SearchSession.create(open_store(), spec)
    click.echo(session.search_id)
    if not created:
        click.echo(
            f"(already submitted: generation {session.generation}, {session.phase.value})",
            err=True,
        )


@click.command()
@click.argument("search_id", required=False)
@json_option
@click.option("--workers/--no-workers", default=True, help="Ask the broker which workers answer.")
@click.option("--watch", is_flag=True,
              help="Follow live until every search shown has finished (Ctrl-C stops); with --json, "
              "one JSON document per line per refresh.")
@click.option("--interval", type=float, default=2.0, show_default=True,
              help="Seconds between refreshes with --watch.")
@config_option
@store_option
def status(search_id: str | None, as_json: bool, workers: bool, watch: bool, interval: float,
           config_file: str | None, store_url: str | None) -> None:
    """Show the searches (or one): generation, shards done/in flight/failed, workers, images/s,
    ETA and the current front."""
    from ecad.cli.status_deadline import BoundedStatus
    from ecad.cli.status_view import render_status
    from ecad.cli.status_view import watch as watch_status

    apply_config(config_file)
    read = BoundedStatus(None, [search_id] if search_id else None, workers)
    if watch:
        watch_status(read, click.get_text_stream("stdout"), interval_s=interval, as_json=as_json)
        return
    snapshot = read()
    # The same exit status with --json: a script reads the document and the status alike.
    if as_json:
        click.echo(json.dumps(snapshot.to_json(), indent=2))
        if snapshot.store_error is not None:
            raise TransientError(snapshot.store_error)
    else:
        if snapshot.store_error is not None:  # the one line says it all (on stderr, exit 1)
            raise TransientError(snapshot.store_error)
        click.echo(render_status(snapshot))
    if snapshot.broker_error is not None:  # the store's view is shown; the exit status says it
        raise TransientError(snapshot.broker_error)
    failed = [s.search_id for s in snapshot.searches if s.phase == "failed"]
    unreadable = [s.search_id for s in snapshot.searches if s.phase == "unreadable"]
    if failed or unreadable:
        said = [f"{len(ids)} search(es) {what}: {', '.join(ids)}"
                for what, ids in (("failed", failed), ("unreadable", unreadable)) if ids]
        raise EcadError(f"{'; '.join(said)} (reasons above)")


@click.command()
@click.argument("search_id")
@config_option
@store_option
def cancel(search_id: str, config_file: str | None, store_url: str | None) -> None:
    """Stop SEARCH_ID; finished evaluations stay in the store."""
    from ecad.search import SearchSession

    apply_config(config_file)
    store = open_store()
    try:
        session = SearchSession.open(store, search_id)
    except StoreObjectError as exc:  # its state is unreadable: the marker still stops it
        from ecad.search.markers import write_cancel_marker

        write_cancel_marker(store, search_id, "cancelled by user")
        click.echo(f"cancelled {search_id} (its stored objects are unreadable: {exc})")
        return
    if session.phase.over:  # nothing to stop: say so, and succeed (idempotent)
        click.echo(f"{search_id} is already finished ({session.phase.value}); nothing to cancel")
        return
    session.cancel()
    click.echo(f"cancelled {search_id}")


@click.command()
@click.option(
    "--gpu",
    default=lambda: os.environ.get("ECAD_WORKER_GPU", "auto"),
    show_default="$ECAD_WORKER_GPU or auto",
    help="GPU this worker owns: auto claims a free one through a lease in Redis (a worker finding "
    "all GPUs claimed waits; ECAD_GPU_WAIT_SECONDS bounds the wait), or an nvidia-smi index.",
)
@click.option(
    "--warm",
    multiple=True,
    help="Load and run this model before taking tasks (repeatable): FAMILY, FAMILY:WEIGHTS or a "
    "spec; default $ECAD_WORKER_WARM (comma-separated).",
)
@click.option(
    "--device",
    type=click.Choice(["auto", "cuda", "cpu"]),
    default=lambda: os.environ.get("ECAD_DEVICE", "auto"),
    show_default="$ECAD_DEVICE or auto",
    help="torch device for the models: auto (cuda if available), cuda, cpu. The GPU is --gpu.",
)
@click.option(
    "--concurrency",
    type=int,
    default=None,
    help="Tasks run at once on this GPU (default $ECAD_WORKER_CONCURRENCY or 1). Above 1, "
    "tasks run on threads sharing one copy of the models: one task's generation holds the GPU "
    "while others score, encode, store and fetch. 1 runs each task in a pool process of its "
    "own (a crash loses only that task).",
)
@click.option("--name", default=None, help="Worker node name (default gpu<N>-<pid>@host).")
@click.option("--loglevel", default="INFO", show_default=True)
@config_option
@store_option
def worker(
    gpu: str,
    warm: tuple[str, ...],
    device: str,
    concurrency: int | None,
    name: str | None,
    loglevel: str,
    config_file: str | None,
    store_url: str | None,
) -> None:
    """Run a Celery worker bound to one GPU (SIGTERM: finish the current tasks, then exit)."""
    apply_config(config_file)
    if concurrency is None:
        concurrency = env_int("ECAD_WORKER_CONCURRENCY", 1)
    if concurrency < 1:
        raise click.BadParameter(f"must be at least 1, got {concurrency}",
                                 param_hint="--concurrency")
    from ecad.worker.startup import parse_gpu, prepare_worker

    # Claims the GPU, re-executes with it alone visible, warms the models (ecad/worker/startup.py).
    start = prepare_worker(parse_gpu(gpu), device, warm, worker_name=name)
    from ecad.worker.app import app, watch_task_time_limits
    from ecad.worker.names import GPU_QUEUE

    if concurrency > 1:  # a thread pool: Celery enforces no time limit there
        watch_task_time_limits()

    app.worker_main(
        [
            "worker",
            f"--loglevel={loglevel}",
            "-Q",
            GPU_QUEUE,
            "--pool",
            "prefork" if concurrency == 1 else "threads",
            "--concurrency",
            str(concurrency),
            "--prefetch-multiplier",
            "1",
            "--without-gossip",
            "--without-mingle",
            "-n",
            name or f"{start.label}-{os.getpid()}@%h",
        ]
    )


@click.command()
@click.option("--poll", type=float, default=0.5, show_default=True, help="Seconds between ticks.")
@click.option(
    "--deadline",
    type=float,
    default=None,
    help="Re-send a shard task not finished after this many seconds at most "
    "(default $ECAD_SHARD_DEADLINE or 900); below it, the deadline adapts to the measured "
    "shard times. Tasks the broker lost are re-sent within a minute regardless.",
)
@click.option("--exit-when-idle", is_flag=True, help="Exit once no search is active.")
@click.option(
    "--lease",
    type=float,
    default=None,
    help="Seconds a search's lease lasts unless renewed (default $ECAD_SEARCH_LEASE or 30): one "
    "scheduler drives a search at a time; another takes it over this long after the first dies.",
)
@config_option
@store_option
def scheduler(
    poll: float, deadline: float | None, exit_when_idle: bool, lease: float | None,
    config_file: str | None, store_url: str | None,
) -> None:
    """Run the search scheduler: dispatch shard tasks, collect results, advance generations."""
    import logging

    apply_config(config_file)
    refuse_placeholders("ecad scheduler")
    from ecad.scheduler.dispatch import DEFAULT_SHARD_DEADLINE_S, Dispatcher, celery_sender
    from ecad.scheduler.service import SchedulerService
    from ecad.worker.app import app

    logging.getLogger().setLevel(logging.INFO)
    if deadline is None:
        deadline = env_float("ECAD_SHARD_DEADLINE", DEFAULT_SHARD_DEADLINE_S)
    from ecad.scheduler.queue_watch import redis_watch

    leases = _search_leases(str(app.conf.broker_url), lease)
    service = SchedulerService(
        open_store(),
        Dispatcher(celery_sender(app), deadline_s=deadline),
        watch=redis_watch(str(app.conf.broker_url)),
        leases=leases,
    )
    stopping = {"now": False}

    def stop(signum, _frame):
        stopping["now"] = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    click.echo(f"scheduler: store {service.store.describe()}, deadline {deadline:.0f}s, "
               f"search lease {leases.expiry_s:g}s as {leases.holder}", err=True)
    idle_since = None

    def should_stop() -> bool:
        nonlocal idle_since
        heartbeat.beat(os.environ.get("ECAD_SCHEDULER_HEARTBEAT_FILE"))  # healthcheck
        if stopping["now"]:
            return True
        if exit_when_idle:
            if service.active_searches():
                idle_since = None
            elif idle_since is None:
                idle_since = time.monotonic()
            elif time.monotonic() - idle_since > 2 * poll:
                if service.active_searches(rescan=True):  # submitted since the last listing
                    idle_since = None
                    return False
                return True
        return False

    service.run_forever(poll_s=poll, should_stop=should_stop)
    click.echo(f"scheduler: stopped (CPU {service.cpu_seconds:.2f}s)", err=True)
    sys.stdout.flush()


def _search_leases(broker_url: str, expiry_s: float | None):
    """The scheduler's search leases, in the broker's Redis (:mod:`ecad.scheduler.lease`)."""
    import redis

    from ecad.masking import mask_credentials
    from ecad.scheduler.lease import DEFAULT_LEASE_S, SearchLeases

    if expiry_s is None:
        expiry_s = env_float("ECAD_SEARCH_LEASE", DEFAULT_LEASE_S)
    if not expiry_s > 0:
        raise click.BadParameter(f"must be > 0 seconds, got {expiry_s}", param_hint="--lease")
    if not broker_url.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError(
            f"ecad scheduler keeps its search leases in Redis; the broker is "
            f"{mask_credentials(broker_url)!r}. "
            "Set ECAD_BROKER_URL to a redis:// URL"
        )
    return SearchLeases(redis.Redis.from_url(broker_url), expiry_s)
