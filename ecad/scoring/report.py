"""The JSON report of a scoring run: mean, per-prompt means, per-image scores."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ecad.scoring.image_dir import GeneratedImageFile

__all__ = ["score_report"]


def _number(value: float) -> float | None:
    """JSON has no inf/nan: report them as null (scorers cap PSNR before this)."""
    return float(value) if math.isfinite(value) else None


def score_report(
    scorer: Any,
    files: Sequence[GeneratedImageFile],
    prompts: Sequence[str],
    scores: np.ndarray,
    **context: Any,
) -> dict[str, Any]:
    """Aggregate per-image ``scores`` (in the order of ``files``) into the report dict."""
    by_prompt: dict[int, list[float]] = {}
    for f, s in zip(files, scores, strict=True):
        by_prompt.setdefault(f.prompt_index, []).append(float(s))
    return {
        "scorer": scorer.name,
        "higher_is_better": scorer.higher_is_better,
        **context,
        "count": len(files),
        "mean": _number(float(np.mean(scores))),
        "per_prompt": [
            {"prompt_index": i, "prompt": prompts[i], "images": len(v),
             "mean": _number(float(np.mean(v)))}
            for i, v in sorted(by_prompt.items())
        ],
        "per_image": [
            {"file": f.path.name, "prompt_index": f.prompt_index, "image_index": f.image_index,
             "score": _number(float(s))}
            for f, s in zip(files, scores, strict=True)
        ],
    }
