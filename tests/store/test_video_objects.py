"""A video is one store object (lossless MP4): it round-trips through the file and S3 stores
frame for frame, and a player's copy (H.264 yuv420p) and the report's (VP9 WebM) decode to the
same frame count and size."""

from __future__ import annotations

import numpy as np
import pytest

from ecad.store import FilesystemStore
from ecad.store.keys import image_key
from ecad.store.s3 import S3Store
from ecad.videofile import decode_video, lossless_mp4, playable_mp4, webm
from tests.fixtures.s3 import s3_endpoint, unique_bucket

__all__ = ["s3_endpoint"]  # the fixture, imported for pytest


def _frames() -> np.ndarray:
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (5, 32, 48, 3), dtype=np.uint8)
    frames[:, :16] = np.arange(5, dtype=np.uint8)[:, None, None, None] * 40  # smooth + noisy
    return frames


@pytest.fixture(params=["file", "s3"])
def store(request, tmp_path):
    if request.param == "file":
        return FilesystemStore(tmp_path / "store")
    endpoint = request.getfixturevalue("s3_endpoint")
    return S3Store(
        endpoint.endpoint,
        endpoint.access_key,
        endpoint.secret_key,
        unique_bucket(),
        region="us-east-1",
    )


def test_a_video_round_trips_as_one_object(store):
    frames = _frames()
    key = image_key("0" * 32, 3, 1, video=True)
    assert key == f"images/{'0' * 32}/p00003_i001.mp4"
    data = lossless_mp4(frames, fps=16)
    assert data[4:8] == b"ftyp"  # an MP4 container
    store.put(key, data)
    assert list(store.list(f"images/{'0' * 32}/")) == [key]
    assert np.array_equal(decode_video(store.get(key)), frames)


def test_playable_copies_keep_frames_and_size():
    frames = _frames()
    for data in (playable_mp4(frames, 16), webm(frames, 16)):
        decoded = decode_video(data)
        assert decoded.shape == frames.shape
        assert np.abs(decoded.astype(int) - frames).mean() < 60  # lossy, but the same video
    with pytest.raises(ValueError, match="not a readable video"):
        decode_video(b"\x00" * 64)
