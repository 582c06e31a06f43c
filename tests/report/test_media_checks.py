"""The report's media checks decode what they embed: a PNG through Pillow, a WebM through PyAV
(its frames), not only their first bytes."""

from __future__ import annotations

import io

import numpy as np
import pytest

from ecad.report.page import png_problem, video_problem


def _png() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.fromarray(np.arange(64 * 64 * 3, dtype=np.uint8).reshape(64, 64, 3)).save(out, "PNG")
    return out.getvalue()


def test_a_png_with_intact_ends_but_damaged_pixels_is_refused():
    good = _png()
    assert png_problem(good) is None
    start = good.index(b"IDAT") + 8
    damaged = good[:start] + bytes(b ^ 0xFF for b in good[start : start + 16]) + good[start + 16 :]
    assert png_problem(damaged).startswith("a corrupt PNG (")
    assert png_problem(good[: len(good) // 2]).startswith("a corrupt PNG (")
    assert png_problem(b"<html>502</html>").startswith("not a PNG")


def test_a_truncated_video_is_refused():
    pytest.importorskip("av")
    from ecad.videofile import webm

    frames = (np.random.default_rng(0).random((5, 32, 32, 3)) * 255).astype(np.uint8)
    good = webm(frames, 8)
    assert video_problem(good) is None
    assert video_problem(good[: len(good) // 3]).startswith("a corrupt video (")
    assert video_problem(b"<html>502</html>").startswith("not a WebM video")
