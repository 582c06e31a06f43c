"""A real cluster per test: redis-server, moto's S3 server (behind a pausable proxy), and
``ecad scheduler`` / ``ecad worker`` processes on the tiny model (CPU)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from ecad.search import SearchSession, load_spec, run_search
from ecad.store import FilesystemStore
from tests.fixtures.proxy import PausableProxy
from tests.fixtures.s3 import s3_endpoint, unique_bucket  # noqa: F401
from tests.integration.cluster import Processes, RedisServer, wait_for
from tests.search.conftest import write_spec

pytestmark = pytest.mark.integration


@dataclass
class Cluster:
    redis: RedisServer
    proxy: PausableProxy
    procs: Processes
    env: dict[str, str]
    tmp: Path

    def store(self):
        from ecad.store.s3 import S3Store

        return S3Store.from_env(env=self.env)

    def cli(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "ecad.cli", *args], env=self.env,
                              capture_output=True, text=True, timeout=timeout)

    def submit(self, spec: Path) -> str:
        out = self.cli("submit", str(spec))
        assert out.returncode == 0, out.stderr
        return out.stdout.strip().splitlines()[-1]

    def state(self, search_id: str) -> dict:
        store = self.store()
        key = f"searches/{search_id}/state.json"
        return store.get_json(key) if store.exists(key) else {}

    def wait_generation(self, search_id: str, generation: int, timeout: float = 600) -> None:
        wait_for(lambda: self.state(search_id).get("generation", -1) >= generation, timeout,
                 interval=0.3, what=f"generation {generation} of {search_id}")

    def wait_done(self, search_id: str, timeout: float = 600) -> None:
        wait_for(lambda: self.state(search_id).get("phase") == "done", timeout, interval=0.3,
                 what=f"{search_id} to finish")


@pytest.fixture
def cluster(tmp_path, s3_endpoint):  # noqa: F811
    redis = RedisServer().start()
    proxy = PausableProxy(s3_endpoint.address)
    bucket = unique_bucket()
    env = {
        **os.environ,
        **s3_endpoint.env(bucket=bucket, endpoint=proxy.endpoint),
        "HF_HUB_OFFLINE": "1",
        "ECAD_BROKER_URL": redis.url,
        "ECAD_VISIBILITY_TIMEOUT": "300",
        "ECAD_TASK_TIME_LIMIT": "240",
        "ECAD_S3_RETRY_SECONDS": "90",
        "ECAD_S3_TIMEOUT": "5",
    }
    procs = Processes(env, tmp_path)
    c = Cluster(redis, proxy, procs, env, tmp_path)
    try:
        yield c
    finally:
        procs.stop_all()
        redis.stop()
        proxy.close()
        if os.environ.get("ECAD_TEST_SHOW_LOGS"):
            print(procs.logs())


def cluster_spec(tmp_path: Path, **overrides) -> Path:
    base = dict(name="cluster", steps=6, population=6, generations=2, shard_size=2,
                prompts={"file": str(Path(__file__).resolve().parents[2] / "prompts"
                                  / "calibration-100.txt"), "limit": 4},
                initial_population={"heuristics": ["fora:2", "fora:3", "attention-every:2"]})
    base.update(overrides)
    return write_spec(tmp_path, **base)


def local_result(tmp_path: Path, spec_path: Path) -> dict:
    """The same search run by ``ecad search``'s runner in this process (filesystem store)."""
    session = run_search(FilesystemStore(tmp_path / "local-store"), load_spec(spec_path),
                         progress=lambda _: None)
    return summary(session)


def summary(session: SearchSession) -> dict:
    hist = session.history()
    return {
        "populations": [(r.population.X, r.population.F) for r in hist],
        "front": [(m.schedule.digest(), m.quality, m.relative_cost)
                  for m in session.front()],
        # Searches sharing a store reuse each other's evaluations (counted as cached), and when
        # one finds the other's depends on timing: compare candidates scored either way.
        "scored": session.counts.evaluated + session.counts.cached,
    }


def cluster_result(cluster: Cluster, search_id: str) -> dict:
    return summary(SearchSession.open(cluster.store(), search_id))


def attempts(cluster: Cluster) -> dict[str, dict]:
    store = cluster.store()
    return {k[len("attempts/"):-len(".json")]: store.get_json(k) for k in store.list("attempts/")}


def dump(obj) -> str:
    return json.dumps(obj, indent=1)[:3000]
