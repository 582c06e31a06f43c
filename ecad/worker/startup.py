"""What ``ecad worker`` does before it takes work: credentials, its GPU, warm models, ready.

1. Refuse placeholder credentials (:mod:`ecad.credentials`).
2. ``--gpu auto``: claim a free GPU through a Redis lease (:mod:`ecad.worker.gpu_lease`);
   ``--gpu N``: that GPU. Either way the process then re-executes itself with only that GPU visible
   (:func:`ecad.worker.devices.restart_on_gpu`); the lease travels in the environment.
3. Load and run each ``--warm`` model once on the worker's device (:mod:`ecad.worker.warmup`);
   a failure stops the worker as a weights failure before it takes any task.
4. Once Celery is consuming, write the ready file (``ECAD_WORKER_READY_FILE``) that the
   container healthcheck reads (``python -m ecad.worker.health``); the lease renewal keeps it fresh.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import signal
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from celery import signals

from ecad.credentials import refuse_placeholders
from ecad.errors import ConfigError
from ecad.worker.gpu_lease import GpuLease, claim_gpu, gpu_inventory, lease_settings

log = logging.getLogger(__name__)

__all__ = ["WorkerStart", "prepare_worker"]

READY_ENV = "ECAD_WORKER_READY_FILE"


@dataclass
class WorkerStart:
    gpu: int | None  # nvidia-smi index (None: CPU)
    lease: GpuLease | None = None
    warmed: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return "cpu" if self.gpu is None else f"gpu{self.gpu}"


def _redis_client():
    import redis

    from ecad.worker.config import broker_url

    return redis.Redis.from_url(broker_url, socket_timeout=10, socket_connect_timeout=10)


def _claim(device: str) -> GpuLease | None:
    """The lease this process restarted with, or a newly claimed one; None when ``--device
    auto`` finds no GPU at all (the worker runs on the CPU)."""
    settings = lease_settings()
    client = _redis_client()
    resumed = GpuLease.from_env(client, os.environ, settings.ttl_s)
    if resumed is not None:
        return resumed
    inventory = gpu_inventory()
    if not inventory and device == "auto":
        log.warning("--gpu auto: no GPU found (nvidia-smi lists none); running on the CPU")
        return None
    return claim_gpu(client, inventory, settings)


def _stop_worker(lease: GpuLease) -> None:
    log.critical("stopping this worker: %s belongs to another worker now", lease.gpu)
    os.kill(os.getpid(), signal.SIGTERM)  # Celery's warm shutdown: running tasks finish


def _touch_ready() -> None:
    path = os.environ.get(READY_ENV)
    if path and Path(path).exists():
        os.utime(path)


def _write_ready(start: WorkerStart) -> None:
    path = os.environ.get(READY_ENV)
    record = {"pid": os.getpid(), "gpu": start.gpu, "warmed": start.warmed,
              "lease_seconds": start.lease.ttl_s if start.lease else None}
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(record))
    log.info("worker ready: %s, warmed %s", start.label, ", ".join(start.warmed) or "nothing")


def _clear_ready() -> None:
    path = os.environ.get(READY_ENV)
    if path:
        Path(path).unlink(missing_ok=True)


def _report_startup_failure(worker_name: str, exc: Exception) -> None:
    """Say in ``ecad status`` why this worker stopped before taking work: it exits with status 2
    (a configuration error), and the restart policy gives up after a few tries (compose:
    ``on-failure:3``; Kubernetes backs off), so the reason must outlive the process."""
    from ecad.worker.refusals import STARTUP_FAILURE_TTL_S, record_refusal

    try:
        record_refusal(_redis_client(), worker_name, f"cannot start: {exc}",
                       ttl_s=STARTUP_FAILURE_TTL_S)
    except Exception as report_error:  # best effort: the exit status and the log still say it
        log.warning("could not report the start-up failure to the broker: %s", report_error)


def prepare_worker(gpu: str, device: str, warm: Sequence[str] = (),
                   worker_name: str | None = None) -> WorkerStart:
    """Steps 1-3 of the module docstring; step 4 is armed for Celery's ``worker_ready``."""
    from ecad.families.fetch import warm_names, weights_target
    from ecad.worker.devices import restart_on_gpu, worker_device

    refuse_placeholders("ecad worker")
    os.environ["ECAD_WORKER_DEVICE"] = device
    _clear_ready()
    start = WorkerStart(gpu=None)
    if device != "cpu" and gpu == "auto":
        start.lease = _claim(device)  # NoFreeGpu (an EcadError) ends the command clearly
        if start.lease:
            start.gpu = start.lease.gpu.index
            os.environ.update(start.lease.to_env())
    elif device != "cpu":
        start.gpu = int(gpu)
    if start.gpu is not None:
        restart_on_gpu(start.gpu)  # returns only once this process sees that GPU alone
    if start.lease is not None:
        start.lease.start_renewing(on_lost=_stop_worker, on_renewed=_touch_ready)
        atexit.register(start.lease.release)
    atexit.register(_clear_ready)
    targets = list(warm) or warm_names()
    if targets:
        from ecad.families.fetch import WeightsError
        from ecad.worker.warmup import warm_up

        where = worker_device()
        for name in targets:
            try:
                warm_up(weights_target(name), where, os.environ.get("ECAD_WORKER_DTYPE") or None)
            except WeightsError as exc:
                _report_startup_failure(worker_name or f"{start.label}-{os.getpid()}", exc)
                raise
            start.warmed.append(name)

    def ready(sender=None, **_):
        _write_ready(start)
        # Started after all: an earlier start's failure, or the report of a worker that stopped
        # taking tasks under this name, no longer applies.
        for name in {worker_name, getattr(sender, "hostname", None)}:
            _clear_refusal(name)

    signals.worker_ready.connect(ready, weak=False)
    return start


def _clear_refusal(name: str | None) -> None:
    """A worker that stopped taking tasks after refusing them is restarted under its name: the
    report of the stopped one goes (best effort: the report fades on its own otherwise)."""
    if not name:
        return
    try:
        from ecad.worker.refusals import clear_refusal
        from ecad.worker.tasks import run_shard

        clear_refusal(run_shard.broker_client(), name)
    except Exception as exc:
        log.debug("could not clear the refusal report of %s: %s", name, exc)


def parse_gpu(value: str) -> str:
    """``--gpu``: ``auto`` or a non-negative index."""
    if value == "auto" or value.isdigit():
        return value
    raise ConfigError(f"--gpu {value!r}: use auto (claim a free GPU) or an nvidia-smi index")
