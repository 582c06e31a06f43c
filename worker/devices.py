"""Which torch device a worker's models go to.

``ecad worker --gpu N`` restarts itself (``exec``, same process id) with ``CUDA_VISIBLE_DEVICES=N``
and ``CUDA_DEVICE_ORDER=PCI_BUS_ID`` in its environment, so the worker sees one GPU, ``cuda:0``,
and N is nvidia-smi's index. Setting the variable from inside the running CLI is not enough:
CUDA reads it once, when the driver initialises, and on a 4-GPU host the driver was already up
by then (the worker for ``--gpu 1`` saw one GPU, and it was GPU 0). If every GPU is still visible
anyway, the worker picks its GPU by index instead of silently sharing GPU 0.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable

from ecad.errors import ConfigError

log = logging.getLogger(__name__)

__all__ = ["owned_cuda_device", "restart_on_gpu", "worker_device"]


def restart_on_gpu(gpu: int, execv: Callable[[str, list[str]], None] = os.execv) -> None:
    """Re-run this ``ecad`` command with only GPU ``gpu`` visible, unless it already is."""
    wanted = {"CUDA_VISIBLE_DEVICES": str(gpu), "CUDA_DEVICE_ORDER": "PCI_BUS_ID",
              "ECAD_WORKER_GPU": str(gpu)}
    if all(os.environ.get(k) == v for k, v in wanted.items()):
        return
    os.environ.update(wanted)
    sys.stdout.flush()
    sys.stderr.flush()
    # The command exactly as it was started (console script or ``-m``, interpreter flags too).
    execv(sys.executable, [sys.executable, *sys.orig_argv[1:]])


def owned_cuda_device(visible: int, gpu: str | None) -> str:
    """The worker's GPU among ``visible`` CUDA devices (``gpu``: its ``--gpu`` index)."""
    if gpu is None or visible <= 1:
        return "cuda:0"
    try:
        index = int(gpu)
    except ValueError:
        raise ConfigError(f"ECAD_WORKER_GPU={gpu!r} must be a GPU index") from None
    if not 0 <= index < visible:
        raise ConfigError(f"--gpu {index}: this host has {visible} GPUs (0..{visible - 1})")
    log.warning(
        "CUDA_VISIBLE_DEVICES was applied too late (CUDA saw %d GPUs); using cuda:%d by index",
        visible, index,
    )
    return f"cuda:{index}"


def worker_device() -> str:
    """``ECAD_WORKER_DEVICE`` (auto, cuda, cpu, cuda:N) resolved for this process."""
    wanted = os.environ.get("ECAD_WORKER_DEVICE", "auto")
    if wanted not in ("auto", "cuda"):
        return wanted
    import torch

    if not torch.cuda.is_available():
        if wanted == "cuda":
            raise ConfigError("--device cuda, but this worker sees no CUDA device")
        return "cpu"
    device = owned_cuda_device(torch.cuda.device_count(), os.environ.get("ECAD_WORKER_GPU"))
    props = torch.cuda.get_device_properties(device)
    log.info("models on %s: %s, PCI bus %s", device, props.name,
             getattr(props, "pci_bus_id", "?"))
    return device


def bind_thread(device: str) -> None:
    """Make ``device`` the calling thread's current CUDA device: Triton kernels launch on the
    current device, and CUDA keeps one per thread (pool threads start on ``cuda:0``)."""
    if device.startswith("cuda:"):
        import torch

        torch.cuda.set_device(device)
