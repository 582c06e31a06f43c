"""Two ``ecad scheduler`` processes, one search (real redis-server, a real worker, a filesystem
store): the second never writes the search while the first holds its lease; SIGKILL the
holder and the second takes the search over once the lease expires and finishes it with the
front of an uninterrupted run.

The second scheduler runs with an audit hook (``sys.addaudithook``) that logs every file it
opens for writing, renames or removes under the search's directory: that log, not the
scheduler's own word, says what it wrote. Bounds are on order and behaviour; timeouts are hang
guards only."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

from ecad.scheduler.lease import lease_key
from ecad.search import SearchSession
from ecad.store import FilesystemStore
from tests.integration.cluster import Processes, RedisServer, wait_for
from tests.integration.conftest import cluster_spec, local_result, summary

pytestmark = [pytest.mark.integration, pytest.mark.slow]

LEASE_S = 3.0
SLOW = {"ECAD_FAULTS": json.dumps({"delay_seconds": 0.5})}

# Run ``ecad`` with every write under WATCHED logged to LOG (one JSON line per event, with the
# wall-clock time): opens for writing, renames and removals. os.write raises no audit event.
AUDITED = r"""
import json, os, sys, time
watched, log = os.environ["AUDIT_WATCHED"], os.open(os.environ["AUDIT_LOG"],
                                                      os.O_WRONLY | os.O_CREAT | os.O_APPEND)
WRITE = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
def hook(event, args):
    paths = ()
    if event == "open":
        path, mode, flags = args
        if (isinstance(mode, str) and any(c in mode for c in "wax+")) or (flags or 0) & WRITE:
            paths = (path,)
    elif event in ("os.rename", "os.remove", "os.unlink"):
        paths = args[:2]
    paths = [os.fsdecode(p) for p in paths if isinstance(p, (str, bytes, os.PathLike))]
    hits = [p for p in paths if p.startswith(watched)]
    if hits:
        os.write(log, (json.dumps({"t": time.time(), "event": event, "paths": hits}) + "\n")
                 .encode())
sys.addaudithook(hook)
sys.argv = ["ecad", *sys.argv[1:]]
from ecad.cli.main import main
main()
"""


def _audited_scheduler(procs: Processes, name: str, watched: Path, log: Path):
    out = open(procs.log_dir / f"{name}.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-c", AUDITED, "scheduler", "--poll", "0.2", "--deadline", "60",
         "--lease", str(LEASE_S)],
        env={**procs.env, "AUDIT_WATCHED": str(watched), "AUDIT_LOG": str(log)},
        stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
    )
    proc.log_path = out.name  # type: ignore[attr-defined]
    procs.procs.append(proc)
    return proc


def _writes(log: Path) -> list[dict]:
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]


def _holder_pid(client, search_id: str) -> int | None:
    token = client.get(lease_key(search_id))
    return None if token is None else int(token.decode().split("/")[1])


def test_a_second_scheduler_waits_for_the_lease_then_takes_over_from_a_killed_one(tmp_path):
    server = RedisServer().start()
    client = redis.Redis.from_url(server.url)
    store_dir = tmp_path / "store"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("ECAD_")},
        "HF_HUB_OFFLINE": "1",
        "ECAD_STORE": str(store_dir),
        "ECAD_BROKER_URL": server.url,
        "ECAD_VISIBILITY_TIMEOUT": "300",
        "ECAD_TASK_TIME_LIMIT": "240",
    }
    procs = Processes(env, tmp_path)
    try:
        spec = cluster_spec(tmp_path, name="lease", generations=3, population=4)
        submitted = subprocess.run([sys.executable, "-m", "ecad.cli", "submit", str(spec)],
                                   env=env, capture_output=True, text=True, timeout=300)
        assert submitted.returncode == 0, submitted.stderr
        search_id = submitted.stdout.strip().splitlines()[-1]
        search_dir = store_dir / "searches" / search_id

        procs.worker("w1", extra_env=SLOW)
        first = procs.start("scheduler", "--poll", "0.2", "--deadline", "60",
                            "--lease", str(LEASE_S), name="first")
        wait_for(lambda: _holder_pid(client, search_id) == first.pid, 300, interval=0.1,
                 what="the first scheduler to hold the lease")
        audit = tmp_path / "second-writes.jsonl"
        second = _audited_scheduler(procs, "second", search_dir, audit)
        wait_for(lambda: "driven by another scheduler" in Path(second.log_path).read_text(),
                 300, what="the second scheduler to see the search held")
        store = FilesystemStore(store_dir)
        wait_for(lambda: store.get_json(f"searches/{search_id}/state.json")["generation"] >= 1,
                 300, interval=0.2, what="generation 1 under the first scheduler")
        assert _holder_pid(client, search_id) == first.pid
        assert _writes(audit) == [], "the second wrote the search while the first held it"

        killed_at = time.time()
        procs.kill_group(first, signal.SIGKILL)
        first.wait(300)
        wait_for(lambda: _holder_pid(client, search_id) == second.pid, 300, interval=0.05,
                 what="the second scheduler to take the lease over")
        took_over_s = time.time() - killed_at
        wait_for(lambda: store.get_json(f"searches/{search_id}/state.json")["phase"] == "done",
                 600, interval=0.3, what="the search to finish under the second scheduler")
        writes = _writes(audit)
        assert writes, "the second scheduler drove the search to its end"
        assert min(w["t"] for w in writes) > killed_at, "no write before the holder died"
        print(f"take-over {took_over_s:.1f}s after SIGKILL (lease {LEASE_S:g}s)")

        status = subprocess.run([sys.executable, "-m", "ecad.cli", "status", search_id],
                                env=env, capture_output=True, text=True, timeout=120)
        assert status.returncode == 0, status.stdout + status.stderr
        assert summary(SearchSession.open(store, search_id)) == local_result(tmp_path, spec)
    finally:
        procs.stop_all()
        server.stop()
        if os.environ.get("ECAD_TEST_SHOW_LOGS"):
            print(procs.logs())


def test_status_names_the_scheduler_holding_a_search(tmp_path):
    server = RedisServer().start()
    client = redis.Redis.from_url(server.url)
    try:
        spec = cluster_spec(tmp_path, name="held")
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("ECAD_")},
            "HF_HUB_OFFLINE": "1", "ECAD_STORE": str(tmp_path / "store"),
            "ECAD_BROKER_URL": server.url,
        }
        out = subprocess.run([sys.executable, "-m", "ecad.cli", "submit", str(spec)], env=env,
                             capture_output=True, text=True, timeout=300)
        search_id = out.stdout.strip().splitlines()[-1]
        client.set(lease_key(search_id), "sched-host/4242/abcd1234", px=60_000)
        status = subprocess.run(
            [sys.executable, "-m", "ecad.cli", "status", search_id, "--json"], env=env,
            capture_output=True, text=True, timeout=120)
        lease = json.loads(status.stdout)["searches"][0]["lease"]
        assert lease["holder"] == "sched-host/4242" and 0 < lease["expires_in_s"] <= 60
        text = subprocess.run([sys.executable, "-m", "ecad.cli", "status", search_id], env=env,
                              capture_output=True, text=True, timeout=120).stdout
        assert "driven by sched-host/4242 (lease expires in" in text
    finally:
        server.stop()
