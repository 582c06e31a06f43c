"""``scores/<evaluation key>/shard-<L>-NNNN.json``: one shard's per-image scores, as a frozen
record checked against the shard it claims to be (its size and the scorer's scale)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ecad.search.score_scales import score_problem
from ecad.store.records import RecordError

__all__ = ["ScoreRecord"]


@dataclass(frozen=True)
class ScoreRecord:
    """Per-image scores of one shard: ``(prompt, image)`` index pairs, one score each (stored
    scores may be strings for non-finite values, e.g. ``"inf"``: PSNR of identical images), and
    which way the scorer points."""

    pairs: tuple[tuple[int, int], ...]
    scores: tuple[float | str, ...]
    higher_is_better: bool

    @classmethod
    def parse(cls, data: Any, size: int, scorer: str = "") -> ScoreRecord:
        """A score shard's record, checked: ``size`` pairs of indices, as many finite scores in
        ``scorer``'s range (:mod:`ecad.search.score_scales`), pointing its way."""
        pairs, scores = data["pairs"], data["scores"]
        if not isinstance(pairs, list) or not isinstance(scores, list) or len(pairs) != len(scores):
            raise RecordError("pairs and scores must be lists of equal length")
        if len(pairs) != size:
            raise RecordError(f"{len(pairs)} scores, the shard has {size} images")
        for pair in pairs:
            if not (
                isinstance(pair, list)
                and len(pair) == 2
                and all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in pair)
            ):
                raise RecordError(f"pairs: {pair!r:.40} is not a [prompt, image] index pair")
        if not isinstance(data["higher_is_better"], bool):
            raise RecordError("higher_is_better must be true or false")
        if (bad := score_problem(scorer, scores, data["higher_is_better"])) is not None:
            raise RecordError(f"scores: {bad}")
        return cls(tuple((p, i) for p, i in pairs), tuple(scores), data["higher_is_better"])

    def to_json(self) -> dict[str, Any]:
        return {
            "pairs": [list(p) for p in self.pairs],
            "scores": list(self.scores),
            "higher_is_better": self.higher_is_better,
        }

    def oriented(self) -> np.ndarray:
        """The scores as qualities (higher is better), as ``aggregate`` takes them."""
        values = np.asarray([float(s) for s in self.scores], dtype=np.float64)
        return values if self.higher_is_better else -values
