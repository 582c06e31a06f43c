"""Score records mean what they say: finite, in the scorer's range, its way (issue 27 #1)."""

from __future__ import annotations

import math
import threading

import numpy as np
import pytest

from ecad.errors import EcadError
from ecad.scoring.registry import SCORERS, get_scorer
from ecad.search import load_spec
from ecad.search.evaluation import Evaluator
from ecad.search.score_scales import SCORE_SCALES, score_problem
from ecad.store import FilesystemStore
from tests.search.conftest import write_spec


@pytest.mark.parametrize("name", sorted(set(SCORERS) - {"fid"}))  # FID: one number per set
def test_every_per_image_scorer_declares_its_scale(name):
    scorer = get_scorer(name)
    assert SCORE_SCALES[name].higher_is_better is scorer.higher_is_better


@pytest.mark.parametrize(
    ("scores", "higher", "needle"),
    [
        ([0.5, math.nan], True, "score 1 is nan, not a finite number"),
        ([math.inf], True, "not a finite number"),
        ([1e6], True, "outside psnr's range [0, 100]"),
        (["inf"], True, "not a number"),
        ([True], True, "not a number"),
        ([30.0], False, "higher_is_better is False"),
    ],
)
def test_score_problem_names_the_value(scores, higher, needle):
    assert needle in score_problem("psnr", scores, higher)


def test_in_range_scores_pass():
    assert score_problem("psnr", [0.0, 31.5, 100.0], True) is None
    assert score_problem("lpips", [0.0, 0.7], False) is None


class _Broken:
    """A scorer that returns what no scorer should (a model gone numerically bad)."""

    higher_is_better = True
    lock = threading.Lock()

    def score(self, images, prompts, references=None):
        return np.array([math.nan] * len(images))


def test_a_scorer_returning_nan_fails_its_shard_and_stores_nothing(tmp_path):
    from PIL import Image

    spec = load_spec(write_spec(tmp_path, quality={"scorer": "image-reward"}))
    store = FilesystemStore(tmp_path / "store")
    evaluator = Evaluator(spec, store)
    evaluator.scorer = _Broken  # type: ignore[method-assign]
    images = [Image.new("RGB", (8, 8))] * len(evaluator.shards[0])
    with pytest.raises(EcadError, match=r"scorer image-reward gave shard 0 scores .* nothing"):
        evaluator._score_record(0, images)
    assert list(store.list("scores/")) == []
