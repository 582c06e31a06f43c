"""GPU claiming for ``ecad worker --gpu auto``: a lease per GPU in Redis, expiring with its worker.

Every worker of a host sees the host's GPUs (compose gives each replica all of them); each claims
the first free one with ``SET ecad:gpu-lease:<GPU UUID> <owner> NX PX <ttl>`` and renews the lease
every third of its lifetime while it runs. The key names the GPU by UUID, which is unique across
hosts, so workers of several hosts can share one Redis. A worker that exits releases its lease; a
worker killed outright stops renewing and its GPU is free again once the lease expires
(``ECAD_GPU_LEASE_SECONDS``, 30 s by default). A new claim first lasts
``ECAD_GPU_LEASE_STARTUP_SECONDS`` (120 s), to cover the worker re-executing itself with the GPU
visible and importing torch before its renewals start. A replica that finds every GPU held
waits for one to come free (``ECAD_GPU_WAIT_SECONDS``: how long; unset waits for ever, 0 exits
at once).

The GPU inventory is ``nvidia-smi``'s list (index and UUID), restricted to ``CUDA_VISIBLE_DEVICES``
when that was set before the worker started; ``ECAD_GPU_INVENTORY`` (comma-separated ids, index =
position) replaces it, for tests with fake GPUs or to hand a worker pool a subset by UUID.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ecad.errors import ConfigError, EcadError
from ecad.worker.redis_claims import RELEASE_IF_OURS, RENEW_IF_OURS

log = logging.getLogger(__name__)

__all__ = [
    "LEASE_PREFIX",
    "Gpu",
    "GpuLease",
    "NoFreeGpu",
    "claim_gpu",
    "gpu_inventory",
    "lease_settings",
]

LEASE_PREFIX = "ecad:gpu-lease:"
# The environment a worker re-executes itself with (``ecad.worker.devices.restart_on_gpu``) carries
# its lease, so the restarted process renews the same lease instead of claiming another GPU.
LEASE_ENV = "ECAD_GPU_LEASE"
TOKEN_ENV = "ECAD_GPU_LEASE_TOKEN"


class NoFreeGpu(EcadError):
    """Every GPU of the inventory is held by another worker (after waiting, if asked to)."""


@dataclass(frozen=True)
class Gpu:
    index: int  # nvidia-smi's index (PCI bus order): what CUDA_VISIBLE_DEVICES gets
    uuid: str

    def __str__(self) -> str:
        return f"GPU {self.index} ({self.uuid})"


def _visible_filter(gpus: list[Gpu], visible: str | None) -> list[Gpu]:
    if not visible:
        return gpus
    allowed = {v.strip() for v in visible.split(",") if v.strip()}
    return [g for g in gpus if str(g.index) in allowed or g.uuid in allowed]


def gpu_inventory(env: Mapping[str, str] = os.environ, run: Callable[..., Any] = subprocess.run
                  ) -> list[Gpu]:
    """The GPUs this worker may claim (see the module docstring)."""
    fake = env.get("ECAD_GPU_INVENTORY")
    if fake is not None:
        return [Gpu(i, u.strip()) for i, u in enumerate(fake.split(",")) if u.strip()]
    try:
        out = run(["nvidia-smi", "--query-gpu=index,uuid", "--format=csv,noheader"],
                  capture_output=True, text=True, timeout=60, check=True).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        log.info("no GPU inventory from nvidia-smi (%s)", exc)
        return []
    gpus = []
    for line in out.splitlines():
        index, _, gpu_uuid = line.partition(",")
        if index.strip().isdigit():
            gpus.append(Gpu(int(index), gpu_uuid.strip()))
    return _visible_filter(gpus, env.get("CUDA_VISIBLE_DEVICES"))


@dataclass(frozen=True)
class LeaseSettings:
    ttl_s: float
    startup_s: float
    wait_s: float | None  # None: wait for ever
    poll_s: float


def lease_settings(env: Mapping[str, str] = os.environ) -> LeaseSettings:
    def number(name: str, default: float | None) -> float | None:
        raw = env.get(name, "")
        if raw.strip() == "":
            return default
        try:
            value = float(raw)
        except ValueError:
            raise ConfigError(f"environment variable {name}={raw!r} must be a number of seconds"
                              ) from None
        if value < 0:
            raise ConfigError(f"environment variable {name}={raw!r} must not be negative")
        return value

    ttl = number("ECAD_GPU_LEASE_SECONDS", 30.0)
    if ttl < 1:
        raise ConfigError(f"ECAD_GPU_LEASE_SECONDS={ttl:g} must be at least 1 second")
    startup = max(ttl, number("ECAD_GPU_LEASE_STARTUP_SECONDS", 120.0))
    return LeaseSettings(ttl_s=ttl, startup_s=startup,
                         wait_s=number("ECAD_GPU_WAIT_SECONDS", None),
                         poll_s=min(5.0, ttl / 3))


class GpuLease:
    """One worker's hold on one GPU (a Redis key holding the worker's token, with a TTL)."""

    def __init__(self, client: Any, gpu: Gpu, token: str, ttl_s: float) -> None:
        self.client = client
        self.gpu = gpu
        self.token = token
        self.ttl_s = ttl_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def key(self) -> str:
        return LEASE_PREFIX + self.gpu.uuid

    def try_acquire(self, ttl_s: float | None = None) -> bool:
        ttl_ms = int((ttl_s or self.ttl_s) * 1000)
        return bool(self.client.set(self.key, self.token, nx=True, px=ttl_ms))

    def renew(self) -> bool:
        """Extend the lease; False if this worker no longer holds it."""
        ms = int(self.ttl_s * 1000)
        return bool(self.client.eval(RENEW_IF_OURS, 1, self.key, self.token, ms))

    def holder(self) -> str | None:
        value = self.client.get(self.key)
        return value.decode() if isinstance(value, bytes) else value

    def release(self) -> None:
        self._stop.set()
        with contextlib.suppress(Exception):  # at exit: Redis may be gone; the TTL frees it
            if self.client.eval(RELEASE_IF_OURS, 1, self.key, self.token):
                log.info("released the lease of %s", self.gpu)

    def keep(self) -> bool:
        """Renew, or take the lease again if it vanished (Redis restarted without it)."""
        return self.renew() or self.try_acquire()

    def start_renewing(self, on_lost: Callable[[GpuLease], None],
                       on_renewed: Callable[[], None] = lambda: None) -> threading.Thread:
        """Renew every third of the TTL on a daemon thread. ``on_lost`` runs once if another
        worker holds the GPU now; Redis errors are logged and retried."""
        def loop() -> None:
            while not self._stop.wait(self.ttl_s / 3):
                try:
                    kept = self.keep()
                except Exception as exc:  # Redis unreachable: try again next round
                    log.warning("could not renew the lease of %s: %s", self.gpu, exc)
                    continue
                if kept:
                    on_renewed()
                    continue
                log.critical("the lease of %s is held by %s now, not by this worker",
                             self.gpu, self.holder())
                on_lost(self)
                return

        self._thread = threading.Thread(target=loop, name="ecad-gpu-lease", daemon=True)
        self._thread.start()
        return self._thread

    def to_env(self) -> dict[str, str]:
        return {LEASE_ENV: f"{self.gpu.index}:{self.gpu.uuid}", TOKEN_ENV: self.token}

    @classmethod
    def from_env(cls, client: Any, env: Mapping[str, str], ttl_s: float) -> GpuLease | None:
        """The lease this process was restarted with (``to_env``), still held; else None."""
        held, token = env.get(LEASE_ENV), env.get(TOKEN_ENV)
        if not held or not token:
            return None
        index, _, gpu_uuid = held.partition(":")
        lease = cls(client, Gpu(int(index), gpu_uuid), token, ttl_s)
        if not lease.keep():
            raise NoFreeGpu(f"{lease.gpu} was claimed by {lease.holder()} while this worker "
                            "restarted; start it again to claim another GPU")
        return lease


def new_token() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def claim_gpu(
    client: Any,
    inventory: list[Gpu],
    settings: LeaseSettings,
    token: str | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> GpuLease:
    """Take the lease of the first free GPU, waiting per ``settings.wait_s``."""
    if not inventory:
        raise ConfigError(
            "--gpu auto found no GPU to claim: nvidia-smi lists none (or none that "
            "CUDA_VISIBLE_DEVICES allows); pass --device cpu to run on the CPU, or set "
            "ECAD_GPU_INVENTORY")
    token = token or new_token()
    leases = [GpuLease(client, gpu, token, settings.ttl_s) for gpu in inventory]
    started = clock()
    said = False
    while True:
        for lease in leases:
            if lease.try_acquire(settings.startup_s):
                log.info("claimed %s (lease %s, %.0fs TTL once started)", lease.gpu, lease.key,
                         settings.ttl_s)
                return lease
        holders = ", ".join(f"{lease.gpu.index}: {lease.holder()}" for lease in leases)
        waited = clock() - started
        if settings.wait_s is not None and waited >= settings.wait_s:
            raise NoFreeGpu(
                f"all {len(leases)} GPU(s) are claimed by other workers ({holders}); "
                f"gave up after {waited:.0f}s (ECAD_GPU_WAIT_SECONDS={settings.wait_s:g}). "
                "Run at most one worker per GPU, or unset ECAD_GPU_WAIT_SECONDS to wait")
        if not said:
            log.warning("all %d GPU(s) are claimed by other workers (%s); waiting for one to "
                        "be freed", len(leases), holders)
            said = True
        sleep(settings.poll_s)
