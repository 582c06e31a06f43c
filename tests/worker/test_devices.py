import os
import sys

import pytest

from ecad.errors import ConfigError
from ecad.worker.devices import restart_on_gpu, worker_device


def test_worker_device_is_the_one_visible_gpu_and_logs_which(monkeypatch, caplog):
    from types import SimpleNamespace

    monkeypatch.setattr("torch.cuda.is_available", lambda: True)
    monkeypatch.setattr("torch.cuda.get_device_properties",
                        lambda i: SimpleNamespace(name="NVIDIA H100", uuid="GPU-6d17"))
    for wanted in ("auto", "cuda"):
        monkeypatch.setenv("ECAD_WORKER_DEVICE", wanted)
        with caplog.at_level("INFO"):
            assert worker_device() == "cuda:0"
    assert "models on cuda:0: NVIDIA H100, GPU GPU-6d17" in caplog.text  # run.py parses it


def test_worker_device_without_cuda(monkeypatch):
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    monkeypatch.setenv("ECAD_WORKER_DEVICE", "auto")
    assert worker_device() == "cpu"
    monkeypatch.setenv("ECAD_WORKER_DEVICE", "cuda")
    with pytest.raises(ConfigError, match="sees no CUDA device"):
        worker_device()
    monkeypatch.setenv("ECAD_WORKER_DEVICE", "cpu")
    assert worker_device() == "cpu"


def test_restart_on_gpu_execs_the_same_command_with_one_visible_gpu(monkeypatch):
    for name in ("CUDA_VISIBLE_DEVICES", "CUDA_DEVICE_ORDER"):
        monkeypatch.setenv(name, "unset")  # so that monkeypatch restores the test's environment
        monkeypatch.delenv(name)
    command = ["python3", "-X", "utf8", "/venv/bin/ecad", "worker", "--gpu", "2"]
    monkeypatch.setattr("sys.orig_argv", command)
    calls = []
    restart_on_gpu(2, execv=lambda path, argv: calls.append((path, argv)))
    assert calls == [(sys.executable, [sys.executable, *command[1:]])]
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "2"
    assert os.environ["CUDA_DEVICE_ORDER"] == "PCI_BUS_ID"  # --gpu N is nvidia-smi's index N


def test_restart_on_gpu_returns_once_the_environment_is_set(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    monkeypatch.setenv("CUDA_DEVICE_ORDER", "PCI_BUS_ID")
    restart_on_gpu(1, execv=lambda *a: pytest.fail("restarted a second time"))
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")  # set by the user: still restarts
    calls = []
    restart_on_gpu(1, execv=lambda *a: calls.append(a))
    assert len(calls) == 1 and os.environ["CUDA_VISIBLE_DEVICES"] == "1"
