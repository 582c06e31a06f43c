"""What a per-image score of each scorer can be: its range and its direction.

Torch- and PIL-free (the scheduler checks score records without loading ``ecad.scoring``);
``tests/search/test_score_scales.py`` holds the table to the registered scorers.

A score record is derived data that a reader checks before using it: JSON accepts ``NaN`` and
``1e6``, and a search told either would rank candidates by them. Each scorer declares here the
closed range its scores lie in; a stored score outside it (or not finite, or pointing the other
way) is no score of that scorer, and the shard is scored again. A scorer that returns such a
value fails its task instead of writing it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["SCORE_SCALES", "ScoreScale", "score_problem"]


@dataclass(frozen=True)
class ScoreScale:
    low: float
    high: float
    higher_is_better: bool
    why: str  # where the bounds come from, for the message


#: Registered scorer name -> its scale (``PSNR_CAP_DB`` is 100: see ecad.scoring.fidelity).
SCORE_SCALES: dict[str, ScoreScale] = {
    "image-reward": ScoreScale(-100.0, 100.0, True, "ImageReward is normalised to about N(0, 1)"),
    "clip-score": ScoreScale(-100.0, 100.0, True, "100 x a cosine similarity"),
    "psnr": ScoreScale(0.0, 100.0, True, "dB on [0, 1] pixels, capped at 100 dB"),
    "ssim": ScoreScale(-1.0, 1.0, True, "a correlation-like index"),
    "lpips": ScoreScale(0.0, 2.0, False, "a distance of unit-normalised features"),
}


def score_problem(
    scorer: str, scores: Sequence[object], higher_is_better: object = None
) -> str | None:
    """Why ``scores`` (and the stated direction) are no scores of ``scorer``, else ``None``."""
    scale = SCORE_SCALES.get(scorer)
    if scale is not None and higher_is_better is not None \
            and higher_is_better is not scale.higher_is_better:
        return (f"higher_is_better is {higher_is_better}, but {scorer} scores are "
                f"{'higher' if scale.higher_is_better else 'lower'}-is-better")
    for n, value in enumerate(scores):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"score {n} is {value!r:.40}, not a number"
        if not math.isfinite(value):
            return f"score {n} is {value}, not a finite number"
        if scale is not None and not scale.low <= value <= scale.high:
            return (f"score {n} is {value:g}, outside {scorer}'s range [{scale.low:g}, "
                    f"{scale.high:g}] ({scale.why})")
    return None
