"""Scoring videos with image scorers: every frame is scored, the scores of a video averaged.

What each quality then measures, per video:

* fidelity (``psnr``, ``ssim``, ``lpips``): the mean over frames of the frame's fidelity to the
  same frame of the uncached video of the same prompt and seed (PSNR capped per frame as for
  images, so one identical frame does not make the mean infinite);
* ``clip`` (CLIP score): the mean over frames of the frame's CLIP alignment with the prompt, a
  text-video score that runs offline from a local CLIP checkpoint. It sees each frame alone:
  it measures whether the frames show the prompt, not motion or temporal consistency;
* ``image-reward``: the same per-frame mean of ImageReward (trained on images, not videos).
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise
from typing import Any

import numpy as np

from ecad.scoring.errors import ScorerError

__all__ = ["score_videos"]


def _frames(videos: Sequence[np.ndarray]) -> list[Any]:
    from PIL import Image

    return [Image.fromarray(frame) for video in videos for frame in video]


def score_videos(
    scorer: Any,
    videos: Sequence[np.ndarray],
    prompts: Sequence[str],
    references: Sequence[np.ndarray] | None = None,
) -> np.ndarray:
    """One score per video (uint8 ``[frames, H, W, 3]``): the mean of its frames' scores;
    each frame is scored with its video's prompt (and the same frame of its reference)."""
    if len(prompts) != len(videos):
        raise ScorerError(f"{len(videos)} videos but {len(prompts)} prompts")
    counts = [len(v) for v in videos]
    refs = None
    if references is not None:
        if [len(r) for r in references] != counts or any(
            r.shape != v.shape for r, v in zip(references, videos)
        ):
            raise ScorerError("each reference video must have its video's frames and size")
        refs = _frames(references)
    frame_prompts = [p for p, n in zip(prompts, counts) for _ in range(n)]
    scores = np.asarray(scorer.score(_frames(videos), frame_prompts, references=refs), float)
    bounds = np.cumsum([0, *counts])
    return np.array([scores[a:b].mean() for a, b in pairwise(bounds)])
