"""The report in a real headless Chromium: loads cleanly, draws, hovers, fetches nothing."""

from __future__ import annotations

import io
import re
import time

import numpy as np
import pytest

from ecad.report.write import write_report
from tests.fixtures.chromium import Browser, Page, chromium_path

pytestmark = pytest.mark.skipif(
    chromium_path() is None,
    reason="chromium not installed (apt-get install -y chromium; scripts/setup.sh does it "
    "where apt-get works)",
)


def _rect(page: Page, selector: str) -> dict[str, float]:
    rect = page.evaluate(
        f"(() => {{const r = document.querySelector({selector!r}).getBoundingClientRect();"
        "return {x: r.left + window.scrollX, y: r.top + window.scrollY, width: r.width,"
        "height: r.height};})()"
    )
    assert rect["width"] > 50 and rect["height"] > 50, (selector, rect)
    return rect


def _drawn(page: Page, selector: str) -> np.ndarray:
    """The element's screenshot, checked to be more than a blank box."""
    from PIL import Image

    png = page.screenshot(_rect(page, selector))
    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.int16)
    background = np.median(pixels.reshape(-1, 3), axis=0)
    ink = (np.abs(pixels - background).sum(axis=2) > 60).mean()
    colours = len(np.unique(pixels.reshape(-1, 3), axis=0))
    assert ink > 0.01 and colours > 16, (selector, ink, colours)
    return pixels


def _hover_text(page: Page, div: str, point_selector: str) -> str:
    """Move the mouse over a drawn point and read plotly's hover label."""
    page.evaluate(f"document.querySelector('#{div}').scrollIntoView()")
    box = page.evaluate(
        f"(() => {{const r = document.querySelector('#{div} {point_selector}')"
        ".getBoundingClientRect(); return {x: r.left + r.width / 2, y: r.top + r.height / 2};})()"
    )
    text = ""
    for _ in range(20):  # the label is drawn on the next animation frames
        page.send("Input.dispatchMouseEvent", type="mouseMoved", x=box["x"], y=box["y"])
        time.sleep(0.1)
        text = page.evaluate(f"document.querySelector('#{div} .hoverlayer').textContent")
        if text:
            break
    return text


@pytest.fixture(scope="module")
def loaded(finished_search, tmp_path_factory):
    path = tmp_path_factory.mktemp("browser") / "report.html"
    write_report(finished_search.session(), path, prompts=2)
    with Browser.start() as browser:
        page = browser.open(path.as_uri())
        page.evaluate("new Promise(r => requestAnimationFrame(() => setTimeout(r, 200)))")
        yield page, finished_search.session()


def test_loads_without_console_errors_or_network_requests(loaded):
    page, _ = loaded
    assert page.console_errors() == []
    requests = page.requests()
    assert requests and requests[0].startswith("file://")
    assert [u for u in requests if not u.startswith(("file://", "data:"))] == []


def test_every_plot_and_image_grid_renders(loaded):
    page, session = loaded
    front = session.front()
    plots = ["objective-space", "progress", *(f"reuse-{n}" for n in range(len(front)))]
    for div in plots:
        assert page.evaluate(f"document.querySelectorAll('#{div} .main-svg').length") >= 1, div
        _drawn(page, f"#{div}")
    points = page.evaluate("document.querySelectorAll('#objective-space .scatterlayer "
                           ".trace:first-child .point').length")
    evaluated = sum(len(r.offspring.X) for r in session.history())
    assert 0 < points <= evaluated
    assert page.evaluate("[...document.images].every(i => i.complete && i.naturalWidth > 0)")
    assert page.evaluate("document.images.length") == 2 * 2 * len(front)
    for n in range(len(front)):
        _drawn(page, f"#member-{n} .grid")


def test_hover_shows_a_candidates_name_and_numbers(loaded):
    page, _ = loaded
    text = _hover_text(page, "objective-space", ".scatterlayer .trace:first-child .point")
    assert "_cand_" in text and "speedup" in text and "dB" in text and "reuse" in text
    text = _hover_text(page, "reuse-0", ".hm image") or _hover_text(page, "reuse-0", ".nsewdrag")
    assert "step" in text and "block" in text and ("reused" in text or "computed" in text)


def test_the_harness_sees_console_errors_and_requests(tmp_path):
    page_file = tmp_path / "bad.html"
    page_file.write_text('<script>console.error("boom")</script>'
                         '<img src="http://127.0.0.1:9/x.png">')
    with Browser.start() as browser:
        page = browser.open(page_file.as_uri())
        assert any("boom" in e for e in page.console_errors())
        assert "http://127.0.0.1:9/x.png" in page.requests()


def test_a_pruned_search_shows_its_partial_candidates_and_saved_images(pruned_search, tmp_path):
    path = tmp_path / "pruned.html"
    write_report(pruned_search.session(), path, prompts=1, baselines="none")
    with Browser.start() as browser:
        page = browser.open(path.as_uri())
        page.evaluate("new Promise(r => requestAnimationFrame(() => setTimeout(r, 200)))")
        assert page.console_errors() == []
        _drawn(page, "#pruning-work")
        # the traces: evaluated candidates, then the pruned ones, then the front
        text = _hover_text(page, "objective-space", ".scatterlayer .trace:nth-child(2) .point")
        assert re.search(r"pruned after \d+/8 shards \(\d+/16 images\)", text), text
        assert "estimate ImageReward" in text and "_cand_" in text
