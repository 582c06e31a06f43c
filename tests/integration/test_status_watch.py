"""``ecad status --watch`` following a running tiny cluster search (real processes)."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from tests.integration.conftest import cluster_spec

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def test_status_watch_follows_a_cluster_search_until_it_finishes(cluster, tmp_path):
    spec = cluster_spec(tmp_path, name="watched", generations=1)
    cluster.procs.worker("w1", extra_env={"ECAD_FAULTS": '{"delay_seconds": 0.3}'})
    cluster.procs.scheduler()
    search_id = cluster.submit(spec)
    watch = [sys.executable, "-m", "ecad.cli", "status", search_id, "--watch", "--interval",
             "0.5"]
    text = subprocess.Popen(watch, env=cluster.env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        lines = subprocess.run([*watch, "--json"], env=cluster.env, capture_output=True,
                               text=True, timeout=400)
        out, err = text.communicate(timeout=300)
    finally:
        if text.poll() is None:
            text.kill()
    assert lines.returncode == 0, lines.stderr
    docs = [json.loads(line) for line in lines.stdout.splitlines()]
    searches = [d["searches"][0] for d in docs]
    running = [s for s in searches if "running" in s]
    assert running, "no refresh saw a generation running"
    assert all(s["search"] == search_id and not s["finished"] for s in running)
    for gen in {s["generation"] for s in running}:  # shards only ever finish within a generation
        done = [s["running"]["shards_done"] for s in running if s["generation"] == gen]
        assert done == sorted(done), done
    assert max(s["running"]["shards_total"] for s in running) >= 6 * 2  # population x shards
    busy = [w for d in docs for w in d["workers"] or [] if w["tasks"]]
    assert busy and all(w["name"] == "w1@test" for w in busy)
    assert any(search_id in t and " shard " in t for w in busy for t in w["tasks"])
    final = searches[-1]
    assert final["finished"] and final["phase"] == "done" and final["failed"] == 0
    assert final["front"] and final["hypervolume"] > 0 and final["images_per_s"] > 0
    assert final["evaluated"] + final["cached"] >= 6
    # the text form: timestamped blocks, no control characters, ends with the finished search
    assert text.returncode == 0, err
    assert out.count("--- ") >= 2 and not CONTROL.search(out.replace("\n", ""))
    assert f"{search_id}: done (2 generations) | evaluated " in out.split("--- ")[-1]
    assert "w1@test" in out
