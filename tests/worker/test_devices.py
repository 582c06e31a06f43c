import pytest

from ecad.errors import ConfigError
from worker.devices import bind_thread, owned_cuda_device, worker_device


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
