"""The spec's video fields: ``frames``, ``fps`` and ``width`` (video families only).

For a video family ``resolution`` is the height ("480p"); ``width`` defaults to the family's
aspect ratio at that height (Wan: 832 at 480), ``frames`` and ``fps`` to the model card's. An
image family refuses them. Torch-free.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ecad.store.records import RecordError

__all__ = ["VIDEO_KEYS", "VideoFields", "apply_video_fields", "parse_video_fields"]

VIDEO_KEYS = ("frames", "fps", "width")
_MAX_FRAMES = 1025
_MAX_FPS = 120


@dataclass(frozen=True)
class VideoFields:
    """Frames per video, frames per second, width (0, 0, None: an image search)."""

    frames: int = 0
    fps: int = 0
    width: int | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> VideoFields:
        values = {k: data.get(k) for k in VIDEO_KEYS}
        if values["frames"] is None:
            if any(v is not None for v in values.values()):
                raise RecordError("frames: a spec with fps or width must give frames")
            return cls()
        for key, value in values.items():
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise RecordError(f"{key}: must be a positive integer, got {value!r}")
        return cls(values["frames"], values["fps"], values["width"])

    def to_json(self) -> dict[str, Any]:
        """Only for videos: image specs keep their digests."""
        return {"frames": self.frames, "fps": self.fps, "width": self.width} if self.frames else {}


def parse_video_fields(raw: Mapping[str, Any], family: Any, resolution: Any) -> tuple[dict, list]:
    """``(resolved fields, errors)`` of a submitted spec's video fields."""
    given = [k for k in VIDEO_KEYS if k in raw]
    if family is None:
        return {}, []
    if not family.is_video:
        return {}, [
            f"{k}: {family.name} makes images; frames, fps and width are for video "
            "families (e.g. wan2.1-t2v-1.3b)"
            for k in given
        ]
    errors = []
    multiple = family.resolution_multiple()
    height = resolution if isinstance(resolution, int) and resolution > 0 else None
    out = {
        "frames": raw.get("frames", family.default_frames),
        "fps": raw.get("fps", family.default_fps),
        "width": raw.get("width", family.width_for(height) if height else None),
    }
    for key, value in out.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            errors.append(f"{key}: must be a positive integer, got {value!r}")
    frames, fps, width = out["frames"], out["fps"], out["width"]
    if isinstance(frames, int) and frames >= 1 and ((frames - 1) % 4 or frames > _MAX_FRAMES):
        errors.append(
            f"frames: {frames} must be 4k + 1 (the VAE keeps 1 + 4k frames: 33, 49,"
            f" 81) and at most {_MAX_FRAMES}"
        )
    if isinstance(fps, int) and fps > _MAX_FPS:
        errors.append(f"fps: {fps} must be at most {_MAX_FPS}")
    if isinstance(width, int) and width >= 1 and width % multiple:
        errors.append(f"width: {width} must be a multiple of {multiple} for {family.name}")
    return out, errors


def apply_video_fields(resolved: dict[str, Any], raw: Mapping[str, Any], family: Any) -> list:
    """Set a submitted spec's video fields in ``resolved`` (after its resolution); the errors."""
    fields, errors = parse_video_fields(raw, family, resolved.get("resolution"))
    resolved.update(fields)
    return errors
