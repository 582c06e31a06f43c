"""Generated image directories: ``p{prompt:05d}_i{image:03d}.png`` files and ``manifest.json``.

That is the layout ``ecad generate`` writes (see ``ecad.generation.image_filename``); the prompt
index points into the prompt set the images were generated from. A video family's directory
holds ``p{prompt:05d}_i{video:03d}.mp4`` files instead, one video each.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ecad.scoring.errors import ScorerError

__all__ = ["GeneratedImageFile", "list_generated_images", "read_manifest"]

_NAME = re.compile(r"p(\d{5,})_i(\d{3,})\.(png|mp4)")


@dataclass(frozen=True)
class GeneratedImageFile:
    prompt_index: int
    image_index: int
    path: Path

    @property
    def video(self) -> bool:
        return self.path.suffix == ".mp4"


def list_generated_images(directory: str | os.PathLike) -> list[GeneratedImageFile]:
    """Every ``pNNNNN_iNNN.png`` (or, for videos, ``.mp4``) in ``directory``, ordered by
    (prompt, image); a directory holds one kind."""
    d = Path(directory)
    if not d.is_dir():
        raise ScorerError(f"{d}: image directory does not exist")
    found = []
    for p in d.iterdir():
        m = _NAME.fullmatch(p.name)
        if m and p.is_file():
            found.append(GeneratedImageFile(int(m[1]), int(m[2]), p))
    if not found:
        raise ScorerError(f"{d}: no images named p{{prompt:05d}}_i{{image:03d}}.png (or .mp4 "
                          "videos; the layout `ecad generate` writes)")
    if len({f.video for f in found}) > 1:
        raise ScorerError(f"{d}: holds both PNG images and MP4 videos; score each kind from a "
                          "directory of its own")
    return sorted(found, key=lambda f: (f.prompt_index, f.image_index))


def read_manifest(directory: str | os.PathLike) -> dict[str, Any] | None:
    """The directory's ``manifest.json``, or ``None`` if it has none."""
    path = Path(directory) / "manifest.json"
    if not path.is_file():
        return None
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ScorerError(f"{path}: unreadable manifest ({exc}); fix or delete it") from exc
    if not isinstance(manifest, dict):
        raise ScorerError(f"{path}: manifest must be a JSON object")
    return manifest
