"""Videos as files: MP4 through PyAV (FFmpeg's libraries, shipped in the ``av`` wheel).

Three encodings of one ``uint8 [frames, height, width, 3]`` RGB array:

- :func:`lossless_mp4`: H.264 in RGB (``libx264rgb``, qp 0): the store's object. Decoding gives
  the exact frames back, so fidelity scores are not blurred by codec noise; FFmpeg-based players
  (mpv, VLC, ffplay) play it, browsers do not.
- :func:`playable_mp4`: H.264, yuv420p, CRF 18: what ``ecad generate`` writes; plays anywhere.
- :func:`webm`: VP9 in WebM: what the report embeds (every Chromium plays VP9).
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np

from ecad.errors import ConfigError

__all__ = ["decode_video", "lossless_mp4", "playable_mp4", "webm"]


def _av() -> Any:
    try:
        import av
    except ImportError as exc:
        raise ConfigError("videos need PyAV: pip install av (it ships FFmpeg)") from exc
    return av


def _check(frames: np.ndarray) -> np.ndarray:
    arr = np.asarray(frames)
    if arr.dtype != np.uint8 or arr.ndim != 4 or arr.shape[-1] != 3 or not arr.shape[0]:
        raise ValueError(
            f"a video is uint8 [frames, height, width, 3], got {arr.dtype} {list(arr.shape)}"
        )
    return arr


def _encode(
    frames: np.ndarray,
    fps: int,
    fmt: str,
    codec: str,
    pix_fmt: str,
    options: dict[str, str],
    in_fmt: str = "rgb24",
) -> bytes:
    av = _av()
    arr = _check(frames)
    buf = io.BytesIO()
    with av.open(buf, "w", format=fmt) as container:
        stream = container.add_stream(codec, rate=int(fps))
        stream.width, stream.height = arr.shape[2], arr.shape[1]
        stream.pix_fmt = pix_fmt
        stream.options = options
        for frame in arr:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format=in_fmt)):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buf.getvalue()


def lossless_mp4(frames: np.ndarray, fps: int) -> bytes:
    """Exact RGB frames in MP4 (H.264 RGB, qp 0)."""
    return _encode(frames, fps, "mp4", "libx264rgb", "rgb24", {"qp": "0", "preset": "veryfast"})


def _even(frames: np.ndarray) -> np.ndarray:
    """yuv420p needs even sides: drop a last odd row or column."""
    arr = _check(frames)
    return arr[:, : arr.shape[1] // 2 * 2, : arr.shape[2] // 2 * 2]


def playable_mp4(frames: np.ndarray, fps: int) -> bytes:
    """H.264 yuv420p MP4 (CRF 18, faststart): plays in browsers and every player."""
    return _encode(
        _even(frames),
        fps,
        "mp4",
        "libx264",
        "yuv420p",
        {"crf": "18", "preset": "veryfast", "movflags": "+faststart"},
    )


def webm(frames: np.ndarray, fps: int) -> bytes:
    """VP9 WebM (constant quality 32, realtime speed): small, plays in every Chromium."""
    return _encode(
        _even(frames),
        fps,
        "webm",
        "libvpx-vp9",
        "yuv420p",
        {"crf": "32", "b": "0", "deadline": "realtime", "cpu-used": "8"},
    )


def decode_video(data: bytes) -> np.ndarray:
    """All frames of a video file as uint8 RGB ``[frames, height, width, 3]``."""
    av = _av()
    try:
        with av.open(io.BytesIO(data)) as container:
            frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    except (av.error.FFmpegError, ValueError, IndexError) as exc:
        raise ValueError(f"not a readable video ({exc})") from exc
    if not frames:
        raise ValueError("not a readable video (no frames)")
    return np.stack(frames)
