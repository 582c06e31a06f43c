"""Quality scoring: ImageReward, CLIP score, FID, and fidelity to the uncached images.

Every per-image scorer follows :class:`Scorer` (``score(images, prompts) -> np.ndarray``); FID is
a :class:`SetScorer`. Get them with :func:`get_scorer`; heavy packages are imported on first use.
"""

from ecad.scoring.base import Scorer, SetScorer
from ecad.scoring.errors import MissingDependencyError, ScorerError
from ecad.scoring.registry import get_scorer, scorer_names

__all__ = [
    "MissingDependencyError",
    "Scorer",
    "ScorerError",
    "SetScorer",
    "get_scorer",
    "scorer_names",
]
