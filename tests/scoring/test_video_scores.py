"""Video scores: every frame scored by an image scorer, the frames of a video averaged (fidelity
to the uncached video's same frame; CLIP per frame against the prompt, from a local checkpoint)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from ecad.scoring.clip_score import ClipScorer
from ecad.scoring.errors import ScorerError
from ecad.scoring.fidelity import FidelityScorer
from ecad.scoring.video import score_videos


def _video(seed: int, frames: int = 3) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (frames, 32, 32, 3), dtype=np.uint8)


def test_fidelity_is_the_mean_of_the_frames_scores():
    refs = [_video(0), _video(1)]
    videos = [refs[0].copy(), refs[1].copy()]
    videos[0][1] //= 2  # one frame of the first video differs
    videos[1][:] = 255 - videos[1]  # every frame of the second
    scorer = FidelityScorer("ssim", device="cpu")
    scores = score_videos(scorer, videos, ["a", "b"], refs)
    for video, ref, score in zip(videos, refs, scores):
        frames = scorer.score(
            [Image.fromarray(f) for f in video],
            ["x"] * 3,
            references=[Image.fromarray(f) for f in ref],
        )
        assert score == pytest.approx(frames.mean())
    assert 1 > scores[0] > scores[1]
    with pytest.raises(ScorerError, match="frames and size"):
        score_videos(scorer, videos, ["a", "b"], [refs[0][:2], refs[1]])


def test_clip_scores_each_frame_against_its_video_prompt(clip_files):
    scorer = ClipScorer(device="cpu", clamp=False, **clip_files)
    videos = [_video(2), _video(3, frames=2)]
    scores = score_videos(scorer, videos, ["a red fox", "a lighthouse"])
    frames = scorer.score([Image.fromarray(f) for f in videos[1]], ["a lighthouse"] * 2)
    assert scores.shape == (2,) and scores[1] == pytest.approx(frames.mean())
