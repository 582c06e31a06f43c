"""``ecad status`` rendering and the --watch loop, on plain snapshots."""

from __future__ import annotations

import io
import json
import re

from ecad.cli.status_view import (
    FrontRow,
    SearchStatus,
    StatusSnapshot,
    WorkerStatus,
    render_status,
    watch,
)
from ecad.search.running import RunningGeneration

CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
FRONT = (FrontRow("t_front_01", 54.2, 0.4), FrontRow("t_front_00", 57.0, 0.5))


def _running(shards_done: int = 5) -> SearchStatus:
    return SearchStatus(
        "t-abc", "evaluate", 2, 10, 12, "psnr", evaluated=20, cached=2, failed=1, infeasible=1,
        running=RunningGeneration(shards_done, 24, 3, failed=1, eta_seconds=750), images_per_s=7.25,
        hypervolume=28.5, front=FRONT,
    )


def _done(phase: str = "done", **extra) -> SearchStatus:
    return SearchStatus("t-abc", phase, 11, 10, 12, "psnr", evaluated=130, cached=2, **extra)


def test_running_search_shows_shards_rate_eta_front_and_workers():
    snap = StatusSnapshot((_running(),), (WorkerStatus("w1@host", ("generate t-abc shard 3",)),
                                          WorkerStatus("w2@host")))
    text = render_status(snap)
    lines = text.splitlines()
    assert lines[0] == ("t-abc: evaluate, generation 2/10, shards 5/24, in flight 3, 1 failed, "
                        "ETA 12.5 min | evaluated 20, cached 2, failed 1, infeasible 1")
    assert lines[1] == "  population 12 | hypervolume 28.5000 | 7.2 img/s"
    assert lines[2].split() == ["speedup", "PSNR", "(dB)", "schedule"]
    assert lines[3].split() == ["2.50x", "54.20", "dB", "t_front_01"]  # fastest first
    assert "  w1@host: generate t-abc shard 3" in lines and "  w2@host: idle" in lines
    assert not CONTROL.search(text.replace("\n", ""))


def test_finished_search_shows_no_shard_numbers_and_long_fronts_are_cut():
    front = tuple(FrontRow(f"f{n}", 50.0 - n, 0.9 - n * 0.05) for n in range(10))
    text = render_status(StatusSnapshot((_done(front=front),), ()), front_rows=3)
    assert text.splitlines()[0] == ("t-abc: done (11 generations) | evaluated 130, cached 2, "
                                    "failed 0, infeasible 0")
    assert "shards" not in text and "in flight" not in text
    assert "... 7 more on the front" in text
    assert text.endswith("workers: none answering")
    cancelled = render_status(StatusSnapshot((_done("cancelled"),)))
    assert cancelled.startswith("t-abc: cancelled after 11 generations | ")
    unreachable = StatusSnapshot((_done(),), (), broker_error="broker redis://h did not answer")
    assert render_status(unreachable).endswith("workers: unknown (broker redis://h did not answer)")


def test_watch_redraws_until_every_search_finished():
    snaps = iter([StatusSnapshot((_running(4),)), StatusSnapshot((_running(9),)),
                  StatusSnapshot((_done(),))])
    out, sleeps = io.StringIO(), []
    last = watch(lambda: next(snaps), out, interval_s=0.5, tty=False, sleep=sleeps.append)
    assert last.searches[0].finished and sleeps == [0.5, 0.5]
    text = out.getvalue()
    assert text.count("--- ") == 3 and "shards 4/24" in text and "shards 9/24" in text
    assert not CONTROL.search(text.replace("\n", ""))
    tty = io.StringIO()
    snaps = iter([StatusSnapshot((_running(4),)), StatusSnapshot((_done(),))])
    watch(lambda: next(snaps), tty, tty=True, sleep=lambda _: None)
    assert tty.getvalue().count("\x1b[H\x1b[2J") == 2


def test_json_keeps_running_numbers_apart_and_watch_writes_one_document_per_refresh():
    snaps = iter([StatusSnapshot((_running(4),)), StatusSnapshot((_done("cancelled"),))])
    out = io.StringIO()
    watch(lambda: next(snaps), out, tty=False, sleep=lambda _: None, as_json=True)
    docs = [json.loads(line)["searches"][0] for line in out.getvalue().splitlines()]
    assert docs[0]["search"] == "t-abc" and docs[0]["running"]["shards_done"] == 4
    assert "running" not in docs[1]
    assert [d["finished"] for d in docs] == [False, True]
    assert docs[0]["front"][0] == {"name": "t_front_01", "quality": 54.2, "relative_cost": 0.4}
    assert (docs[0]["evaluated"], docs[0]["cached"], docs[0]["failed"]) == (20, 2, 1)


def test_worker_tasks_are_described_by_kind_search_and_shard():
    from ecad.cli.status_read import _describe_task

    message = {"search_id": "t-abc", "kind": "shard", "shard": 3, "shards": 8, "genome": "ff"}
    assert _describe_task({"name": "ecad.run_shard", "args": [message]}) == "shard t-abc shard 3/8"
    assert _describe_task({"name": "ecad.generate_shard", "args": ["t-abc", "d1g3st", 2]}) == (
        "generate t-abc shard 2")


def test_a_pruned_search_shows_its_partial_candidates_images_and_shard_work():
    last = {"images": 232, "images_saved": 152, "shard_seconds": 19.2, "seconds": 19.3}
    status = _done(pruned=75, images=2464, images_saved=1664, shard_seconds=144.0,
                   last_generation=last)
    lines = render_status(StatusSnapshot((status,))).splitlines()
    assert lines[0].endswith("infeasible 0, pruned 75 (partial) | images 2464, 1664 saved by "
                             "pruning, 0.04 GPU-h")
    assert lines[2] == ("  last generation: 232 images (152 saved by pruning), 19.2s of shard "
                        "work in 19.3s")
    data = status.to_json()
    assert (data["pruned"], data["images_saved"], data["last_generation"]) == (75, 1664, last)
    plain = render_status(StatusSnapshot((_done(),)))
    assert "pruned" not in plain and "last generation" not in plain


def test_the_scheduler_holding_a_search_is_shown_with_its_lease():
    from dataclasses import replace

    lease = {"holder": "sched-host/4242", "expires_in_s": 21.5}
    snap = StatusSnapshot((replace(_running(), lease=lease),), ())
    text = render_status(snap)
    assert "  driven by sched-host/4242 (lease expires in " in text
    assert json.loads(json.dumps(snap.to_json()))["searches"][0]["lease"] == lease
    unheld = render_status(StatusSnapshot((_running(),), ()))
    assert "driven by" not in unheld
