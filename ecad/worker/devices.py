"""Which torch device a worker's models go to.

``ecad worker --gpu N`` restarts itself (``exec``, same process id) with ``CUDA_VISIBLE_DEVICES=N``
and ``CUDA_DEVICE_ORDER=PCI_BUS_ID`` in its environment, so the worker sees one GPU, ``cuda:0``,
and N is nvidia-smi's index. Setting the variable from inside the running CLI is not enough:
CUDA reads it once, when the driver initialises, and on a 4-GPU host the driver was already up
by then (the worker for ``--gpu 1`` saw one GPU, and it was GPU 0).
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable

from ecad.errors import ConfigError

log = logging.getLogger(__name__)

__all__ = ["restart_on_gpu", "worker_device"]


def restart_on_gpu(gpu: int, execv: Callable[[str, list[str]], None] = os.execv) -> None:
    """Re-run this ``ecad`` command with only GPU ``gpu`` visible, unless it already is."""
    wanted = {"CUDA_VISIBLE_DEVICES": str(gpu), "CUDA_DEVICE_ORDER": "PCI_BUS_ID"}
    if all(os.environ.get(k) == v for k, v in wanted.items()):
        return
    os.environ.update(wanted)
    sys.stdout.flush()
    sys.stderr.flush()
    # The command exactly as it was started (console script or ``-m``, interpreter flags too).
    execv(sys.executable, [sys.executable, *sys.orig_argv[1:]])


def worker_device() -> str:
    """``ECAD_WORKER_DEVICE`` (auto, cuda, cpu) resolved for this process: its one visible GPU
    (``restart_on_gpu``), else the CPU."""
    wanted = os.environ.get("ECAD_WORKER_DEVICE", "auto")
    if wanted == "cpu":
        return "cpu"
    import torch

    if not torch.cuda.is_available():
        if wanted == "cuda":
            raise ConfigError("--device cuda, but this worker sees no CUDA device")
        return "cpu"
    props = torch.cuda.get_device_properties(0)
    log.info("models on cuda:0: %s, GPU %s", props.name, getattr(props, "uuid", "?"))
    return "cuda:0"
