"""Unknown spec keys are refused, naming the nearest known one (issue 27 #5)."""

from __future__ import annotations

import inspect

import pytest

from ecad.errors import ConfigError
from ecad.scoring.registry import SCORERS
from ecad.search import load_spec
from ecad.search.spec_keys import SCORER_OPTIONS
from tests.search.conftest import write_spec


@pytest.mark.parametrize(
    ("override", "needle"),
    [
        ("quality.metirc=ssim", "quality.metirc: unknown field; did you mean 'metric'?"),
        ("populaton=8", "populaton: unknown field; did you mean 'population'?"),
        ("cost.bach=2", "cost.bach: unknown field; did you mean 'batch'?"),
        ("crossover.point=2", "crossover.point: unknown field; did you mean 'points'?"),
        ("mutation.bitprob=0.1", "mutation.bitprob: unknown field; did you mean 'bit_prob'?"),
        ("prompts.limt=2", "prompts.limt: unknown field; did you mean 'limit'?"),
        ("quality={scorer: clip, metric: ssim}", "quality.metric: unknown field"),
        ("quality.batchsize=4", "quality.batchsize: unknown field; did you mean 'batch_size'?"),
    ],
)
def test_unknown_keys_are_refused_with_the_nearest_one(tmp_path, override, needle):
    with pytest.raises(ConfigError, match="unknown field") as caught:
        load_spec(write_spec(tmp_path), [override])
    assert needle in str(caught.value)


def test_unknown_key_in_the_yaml_file_is_refused(tmp_path):
    path = write_spec(tmp_path, quality={"scorer": "fidelity", "metirc": "ssim"})
    with pytest.raises(ConfigError, match="did you mean 'metric'"):
        load_spec(path)


def test_known_scorer_options_still_pass(tmp_path):
    spec = load_spec(write_spec(tmp_path), ["quality.batch_size=4", "cost.text_tokens=120"])
    assert spec.quality.options["batch_size"] == 4


@pytest.mark.parametrize("scorer", sorted(SCORER_OPTIONS))
def test_scorer_options_are_the_scorer_classes_arguments(scorer):
    import importlib

    names = {"fidelity": "ssim", "clip": "clip-score"}.get(scorer, scorer)
    module, cls, fixed = SCORERS[names]
    params = inspect.signature(getattr(importlib.import_module(module), cls)).parameters
    assert set(SCORER_OPTIONS[scorer]) == set(params) - {"device", "self"} - set(fixed)
