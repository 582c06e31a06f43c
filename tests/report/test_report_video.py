"""A video search's report: each front member's videos beside the uncached ones of the same
prompt and seed, playing inline from data URIs in one self-contained page (headless Chromium,
no network), and the page's own checks of a missing or unreadable video."""

from __future__ import annotations

import time

import pytest

from ecad.report.data import ImagePair
from ecad.report.page import _image_grid
from ecad.report.write import write_report
from ecad.search import load_spec, run_search
from ecad.store import FilesystemStore
from tests.fixtures.chromium import Browser, chromium_path
from tests.search.conftest import write_spec

PROMPTS = 2


@pytest.fixture(scope="module")
def video_report(tmp_path_factory):
    root = tmp_path_factory.mktemp("video-report")
    prompts = root / "prompts.txt"
    prompts.write_text("a red cube spinning\ntwo cats on a sofa\n")
    spec = load_spec(
        write_spec(
            root,
            name="tiny-wan-report",
            family="wan2.1-t2v-1.3b",
            resolution=32,
            width=48,
            frames=5,
            fps=8,
            steps=3,
            population=2,
            generations=1,
            min_diff=1,
            prompts={"file": str(prompts), "limit": PROMPTS},
            quality={"scorer": "fidelity"},
        )
    )
    session = run_search(FilesystemStore(root / "store"), spec, progress=lambda _: None)
    path = root / "report.html"
    write_report(session, path, prompts=PROMPTS, baselines="none")
    return path, session


def test_the_page_embeds_each_members_videos_beside_the_uncached_ones(video_report):
    path, session = video_report
    html = path.read_text()
    videos = 2 * PROMPTS * len(session.front())
    assert html.count("<video ") == videos
    assert html.count('src="data:video/webm;base64,') == videos
    assert "<img " not in html.split('id="member-0"')[1]  # the members show videos only


@pytest.mark.skipif(
    chromium_path() is None,
    reason="chromium not installed (apt-get install "
    "-y chromium; scripts/setup.sh does it where apt-get works)",
)
def test_the_videos_play_inline_in_chromium_offline(video_report):
    path, session = video_report
    with Browser.start() as browser:
        page = browser.open(path.as_uri())
        started = page.evaluate(  # autoplay may wait for the viewport: play each one
            "Promise.all([...document.querySelectorAll('video')].map(v => "
            "v.play().then(() => 'ok', e => String(e))))"
        )
        assert set(started) == {"ok"}, started
        state = "[]"
        for _ in range(100):  # decoding starts on the next frames
            state = page.evaluate(
                "JSON.stringify([...document.querySelectorAll('video')].map(v => "
                "[v.readyState, v.videoWidth, v.videoHeight, v.error ? v.error.code : 0, "
                "v.currentTime]))"
            )
            if state != "[]" and all(r[0] >= 2 and r[4] > 0 for r in _rows(state)):
                break
            time.sleep(0.1)
        rows = _rows(state)
        assert len(rows) == 2 * PROMPTS * len(session.front())
        for ready, width, height, error, played in rows:
            assert error == 0 and ready >= 2 and (width, height) == (48, 32)
            assert played > 0  # it plays (muted, looped)
        assert page.console_errors() == []
        assert [u for u in page.requests() if not u.startswith(("file://", "data:"))] == []


def _rows(state: str) -> list:
    import json

    return json.loads(state)


def test_missing_and_unreadable_videos_say_so():
    grid = _image_grid((ImagePair(0, "p", None, b"not a webm", video=True),), "m")
    assert "not generated" in grid and "unreadable (truncated or not a video)" in grid
