"""Real ``ecad worker --gpu auto`` processes on a fake GPU inventory (CPU): distinct GPUs per
worker, a waiting replica taking a killed worker's GPU once its lease expires, release on a warm
shutdown, a clear exit when told not to wait, and warm-up before ready."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from ecad.cli.errors import EXIT_RUNTIME
from ecad.worker.gpu_lease import LEASE_PREFIX
from tests.integration.cluster import Processes, RedisServer, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]

GPUS = ("fake-gpu-a", "fake-gpu-b")
LEASE_SECONDS = 4


@pytest.fixture
def fleet(tmp_path):
    server = RedisServer().start()
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "ECAD_BROKER_URL": server.url,
        "ECAD_STORE": str(tmp_path / "store"),
        "ECAD_GPU_INVENTORY": ",".join(GPUS),
        "ECAD_GPU_LEASE_SECONDS": str(LEASE_SECONDS),
    }
    env.pop("CUDA_VISIBLE_DEVICES", None)
    procs = Processes(env, tmp_path)
    try:
        yield procs, redis.Redis.from_url(server.url, decode_responses=True), tmp_path
    finally:
        procs.stop_all()
        server.stop()
        if os.environ.get("ECAD_TEST_SHOW_LOGS"):
            print(procs.logs())


def start_worker(procs: Processes, tmp: Path, name: str, *extra: str, env: dict | None = None):
    # --device auto on a CPU host: the worker claims a (fake) GPU, re-executes itself with
    # CUDA_VISIBLE_DEVICES set to that GPU, then finds no CUDA and runs on the CPU.
    return procs.start("worker", "--gpu", "auto", "--device", "auto", "--name", f"{name}@test",
                       *extra, name=name,
                       extra_env={"ECAD_WORKER_READY_FILE": str(tmp / f"{name}.ready"),
                                  **(env or {})})


def holders(client) -> dict[str, int]:
    """GPU id -> pid of the worker holding its lease (tokens are host:pid:random)."""
    out = {}
    for gpu in GPUS:
        token = client.get(LEASE_PREFIX + gpu)
        if token:
            out[gpu] = int(token.split(":")[1])
    return out


def visible_gpu(pid: int) -> str | None:
    environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    prefix = b"CUDA_VISIBLE_DEVICES="
    found = [e[len(prefix):].decode() for e in environ if e.startswith(prefix)]
    return found[0] if found else None


def log_of(proc) -> str:
    return Path(proc.log_path).read_text(errors="replace")


def test_workers_claim_distinct_gpus_wait_take_over_and_release(fleet):
    procs, client, tmp = fleet
    workers = {n: start_worker(procs, tmp, n) for n in ("w1", "w2", "w3")}
    by_pid = {p.pid: n for n, p in workers.items()}

    held = wait_for(lambda: len(holders(client)) == 2 and holders(client), 180,
                    what="two workers to hold the two GPUs")
    assert len(set(held.values())) == 2  # each GPU held by a different worker
    for gpu, pid in held.items():
        # the re-executed worker sees exactly the GPU it holds (index = inventory position); the
        # lease is taken before the re-exec, so wait for the exec rather than race it
        wait_for(lambda pid=pid, gpu=gpu: visible_gpu(pid) == str(GPUS.index(gpu)), 300,
                 what=f"worker {pid} to re-exec with its GPU visible")
    waiting = next(n for n, p in workers.items() if p.pid not in held.values())
    wait_for(lambda: "all 2 GPU(s) are claimed" in log_of(workers[waiting]), 300,
             what=f"{waiting} to say it waits for a GPU")
    for pid in held.values():
        wait_for(lambda pid=pid: (tmp / f"{by_pid[pid]}.ready").exists(), 300,
                 what=f"{by_pid[pid]} to report ready")
    assert not (tmp / f"{waiting}.ready").exists()

    # A worker killed outright: its GPU goes to the waiting worker once the lease expires.
    victim_gpu, victim_pid = sorted(held.items())[0]
    assert 0 < client.pttl(LEASE_PREFIX + victim_gpu) <= LEASE_SECONDS * 1000
    Processes.kill_group(workers[by_pid[victim_pid]], signal.SIGKILL)
    wait_for(lambda: holders(client).get(victim_gpu) == workers[waiting].pid, 300,
             what=f"{waiting} to claim {victim_gpu}")
    wait_for(lambda: (tmp / f"{waiting}.ready").exists(), 300, what=f"{waiting} ready")
    assert visible_gpu(workers[waiting].pid) == str(GPUS.index(victim_gpu))

    # Scaling down: a warm shutdown releases the lease at once (not by expiry).
    other_gpu, other_pid = sorted(held.items())[1]
    leaving = workers[by_pid[other_pid]]
    Processes.kill_group(leaving, signal.SIGTERM)
    leaving.wait(600)  # a hang guard: the warm shutdown itself takes seconds
    assert "released the lease of GPU" in log_of(leaving)
    assert client.get(LEASE_PREFIX + other_gpu) is None
    assert not (tmp / f"{by_pid[other_pid]}.ready").exists()
    assert holders(client) == {victim_gpu: workers[waiting].pid}


def test_a_replica_told_not_to_wait_exits_with_a_clear_message(fleet):
    procs, client, tmp = fleet
    for gpu in GPUS:  # both GPUs held by someone else
        client.set(LEASE_PREFIX + gpu, "other-host:1:x", px=60_000)
    proc = start_worker(procs, tmp, "late", env={"ECAD_GPU_WAIT_SECONDS": "0"})
    assert proc.wait(600) == EXIT_RUNTIME  # no free GPU is a runtime condition, not bad input
    text = log_of(proc)
    assert "all 2 GPU(s) are claimed by other workers" in text
    assert "other-host:1:x" in text and "ECAD_GPU_WAIT_SECONDS=0" in text


def test_worker_warms_its_model_before_ready_and_stops_on_a_weights_failure(fleet):
    procs, client, tmp = fleet
    good = start_worker(procs, tmp, "warm", "--warm", "tiny")
    wait_for(lambda: (tmp / "warm.ready").exists(), 240, what="the warm worker to be ready")
    text = log_of(good)
    assert text.index("warmed pixart-alpha weights tiny") < text.index("worker ready: gpu")
    assert json.loads((tmp / "warm.ready").read_text())["warmed"] == ["tiny"]

    bad = start_worker(procs, tmp, "broken", "--warm", "pixart-alpha:/no/such/weights")
    assert bad.wait(180) == 2
    text = log_of(bad)
    assert "weights failure: pixart-alpha weights /no/such/weights could not be loaded" in text
    assert "ecad weights fetch pixart-alpha:/no/such/weights" in text
    assert not (tmp / "broken.ready").exists()
    # the reason outlives the process (the restart policy stops after a few tries)
    refusal = json.loads(client.get("ecad:refusal:broken@test"))
    assert refusal["reason"].startswith("cannot start: weights failure: pixart-alpha weights")
    assert client.ttl("ecad:refusal:broken@test") > 3600
    status = subprocess.run([sys.executable, "-m", "ecad", "status"], env=procs.env,
                            capture_output=True, text=True, timeout=120)
    assert "worker broken@test refuses tasks: cannot start: weights failure" in status.stdout
    # a weights failure before work: its GPU lease is released for another worker
    wait_for(lambda: len(holders(client)) == 1, 300, what="the failed worker's lease release")
