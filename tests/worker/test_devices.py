import os
import sys

import pytest

from ecad.errors import ConfigError
from worker.devices import bind_thread, owned_cuda_device, restart_on_gpu, worker_device


def test_one_visible_gpu_is_cuda_0():
    assert owned_cuda_device(1, "3") == "cuda:0"  # CUDA_VISIBLE_DEVICES=3 took effect
    assert owned_cuda_device(4, None) == "cuda:0"


def test_all_gpus_visible_picks_the_owned_one_by_index(caplog):
    assert owned_cuda_device(2, "1") == "cuda:1"
    assert "applied too late" in caplog.text


def test_bad_gpu_index_is_named():
    with pytest.raises(ConfigError, match="--gpu 5: this host has 2 GPUs"):
        owned_cuda_device(2, "5")
    with pytest.raises(ConfigError, match="ECAD_WORKER_GPU='x'"):
        owned_cuda_device(2, "x")


def test_worker_device_without_cuda(monkeypatch):
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    monkeypatch.setenv("ECAD_WORKER_DEVICE", "auto")
    assert worker_device() == "cpu"
    monkeypatch.setenv("ECAD_WORKER_DEVICE", "cuda")
    with pytest.raises(ConfigError, match="sees no CUDA device"):
        worker_device()
    monkeypatch.setenv("ECAD_WORKER_DEVICE", "cpu")
    assert worker_device() == "cpu"
    bind_thread("cpu")  # nothing to bind off CUDA


def test_restart_on_gpu_execs_the_same_command_with_one_visible_gpu(monkeypatch):
    for name in ("CUDA_VISIBLE_DEVICES", "CUDA_DEVICE_ORDER", "ECAD_WORKER_GPU"):
        monkeypatch.setenv(name, "unset")  # so that monkeypatch restores the test's environment
        monkeypatch.delenv(name)
    command = ["python3", "-X", "utf8", "/venv/bin/ecad", "worker", "--gpu", "2"]
    monkeypatch.setattr("sys.orig_argv", command)
    calls = []
    restart_on_gpu(2, execv=lambda path, argv: calls.append((path, argv)))
    assert calls == [(sys.executable, [sys.executable, *command[1:]])]
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "2"
    assert os.environ["CUDA_DEVICE_ORDER"] == "PCI_BUS_ID"  # --gpu N is nvidia-smi's index N
    assert os.environ["ECAD_WORKER_GPU"] == "2"


def test_restart_on_gpu_returns_once_the_environment_is_set(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    monkeypatch.setenv("CUDA_DEVICE_ORDER", "PCI_BUS_ID")
    monkeypatch.setenv("ECAD_WORKER_GPU", "1")
    restart_on_gpu(1, execv=lambda *a: pytest.fail("restarted a second time"))
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")  # set by the user: still restarts
    calls = []
    restart_on_gpu(1, execv=lambda *a: calls.append(a))
    assert len(calls) == 1 and os.environ["CUDA_VISIBLE_DEVICES"] == "1"
