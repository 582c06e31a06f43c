"""GPU leases against a real redis-server: claiming, waiting, renewal, loss and release."""

from __future__ import annotations

import threading

import pytest
import redis

from ecad.errors import ConfigError
from ecad.worker.gpu_lease import (
    LEASE_PREFIX,
    Gpu,
    GpuLease,
    LeaseSettings,
    NoFreeGpu,
    claim_gpu,
    gpu_inventory,
    lease_settings,
)
from tests.integration.cluster import RedisServer

GPUS = [Gpu(0, "GPU-a"), Gpu(1, "GPU-b")]


@pytest.fixture(scope="module")
def client():
    server = RedisServer().start()
    try:
        yield redis.Redis.from_url(server.url, decode_responses=True)
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def _empty(client):
    client.flushdb()


def settings(wait=None, ttl=30.0):
    return LeaseSettings(ttl_s=ttl, startup_s=120.0, wait_s=wait, poll_s=0.01)


def test_claims_are_distinct_and_a_third_worker_gives_up_when_told(client):
    a = claim_gpu(client, GPUS, settings(), token="host:1:a")
    b = claim_gpu(client, GPUS, settings(), token="host:2:b")
    assert {a.gpu, b.gpu} == set(GPUS)
    assert 30_000 < client.pttl(a.key) <= 120_000  # the start-up lifetime until the first renewal
    naps = []
    clock = iter(range(100))
    with pytest.raises(NoFreeGpu, match=r"all 2 GPU\(s\) are claimed .*0: host:1:a, 1: host:2:b"):
        claim_gpu(client, GPUS, settings(wait=3), token="host:3:c", sleep=naps.append,
                  clock=lambda: next(clock))
    assert naps  # it waited before giving up
    b.release()
    c = claim_gpu(client, GPUS, settings(wait=3), token="host:3:c")
    assert c.gpu == b.gpu and c.holder() == "host:3:c"


def test_renewal_release_and_a_lease_taken_over(client):
    lease = claim_gpu(client, GPUS[:1], settings(ttl=5), token="host:1:a")
    assert lease.renew() and 0 < client.pttl(lease.key) <= 5000
    client.delete(lease.key)  # Redis restarted without it: keep() takes it again
    assert not lease.renew() and lease.keep() and lease.holder() == "host:1:a"
    client.set(lease.key, "host:9:z")  # another worker holds it now
    assert not lease.keep()
    lease.release()  # never deletes another worker's lease
    assert client.get(lease.key) == "host:9:z"


def test_the_renewal_thread_reports_a_lost_lease(client):
    lease = GpuLease(client, GPUS[0], "host:1:a", ttl_s=1.5)
    assert lease.try_acquire()
    lost, renewed = threading.Event(), threading.Event()
    lease.start_renewing(on_lost=lambda _: lost.set(), on_renewed=renewed.set)
    assert renewed.wait(300)
    client.set(lease.key, "host:9:z")
    assert lost.wait(300)


def test_a_restarted_worker_resumes_its_lease_from_the_environment(client):
    lease = claim_gpu(client, GPUS, settings(ttl=5), token="host:1:a")
    resumed = GpuLease.from_env(client, lease.to_env(), ttl_s=5)
    assert resumed.gpu == lease.gpu and resumed.token == lease.token
    assert client.pttl(lease.key) <= 5000  # renewed to the running lifetime
    assert GpuLease.from_env(client, {}, ttl_s=5) is None
    client.set(lease.key, "host:9:z")
    with pytest.raises(NoFreeGpu, match="was claimed by host:9:z while this worker restarted"):
        GpuLease.from_env(client, lease.to_env(), ttl_s=5)


def test_inventory_from_nvidia_smi_restricted_to_visible_devices_or_replaced():
    class Out:
        stdout = "0, GPU-aaa\n1, GPU-bbb\n2, GPU-ccc\n"

    def smi(*_args, **_kwargs):
        return Out()

    assert gpu_inventory({}, run=smi) == [Gpu(0, "GPU-aaa"), Gpu(1, "GPU-bbb"), Gpu(2, "GPU-ccc")]
    assert gpu_inventory({"CUDA_VISIBLE_DEVICES": "2,GPU-aaa"}, run=smi) == [
        Gpu(0, "GPU-aaa"), Gpu(2, "GPU-ccc")]
    assert gpu_inventory({"ECAD_GPU_INVENTORY": "x, y"}, run=smi) == [Gpu(0, "x"), Gpu(1, "y")]

    def missing(*_args, **_kwargs):
        raise FileNotFoundError("nvidia-smi")

    assert gpu_inventory({}, run=missing) == []
    with pytest.raises(ConfigError, match="found no GPU to claim"):
        claim_gpu(None, [], settings())


def test_lease_settings_from_the_environment():
    s = lease_settings({"ECAD_GPU_LEASE_SECONDS": "6", "ECAD_GPU_WAIT_SECONDS": "0"})
    assert (s.ttl_s, s.startup_s, s.wait_s, s.poll_s) == (6, 120, 0, 2)
    assert lease_settings({"ECAD_GPU_WAIT_SECONDS": ""}).wait_s is None
    with pytest.raises(ConfigError, match="ECAD_GPU_LEASE_SECONDS='soon' must be a number"):
        lease_settings({"ECAD_GPU_LEASE_SECONDS": "soon"})
    assert LEASE_PREFIX == "ecad:gpu-lease:"
