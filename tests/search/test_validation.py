"""Spec input checks: names, bounds, heuristic items, weights directories."""

from __future__ import annotations

import json

import pytest

from ecad.errors import ConfigError
from ecad.families import get_family
from ecad.search.validation import (
    check_name,
    check_search_id,
    check_weights,
    heuristic_item_error,
    limit_error,
    name_from_file,
    num_blocks_error,
    parse_heuristic,
    resolve_local_weights,
)

PIXART = get_family("pixart-alpha")


@pytest.mark.parametrize("name", ["t", "tiny-pixart-alpha", "run_2.v3", "A" * 64])
def test_good_names(name):
    assert check_name(name) is None


@pytest.mark.parametrize(
    "name, problem",
    [
        ("sub/dir", "not a safe name"),
        ("../../etc/x", "not a safe name"),
        (".hidden", "not a safe name"),
        ("a b", "not a safe name"),
        ("", "non-empty string"),
        (12, "non-empty string"),
        ("n" * 65, "too long (65 characters; the limit is 64)"),
    ],
)
def test_bad_names(name, problem):
    assert problem in check_name(name)


def test_search_ids_and_default_names():
    assert check_search_id("pixart-alpha-256-0123456789") is None
    assert "not a search id" in check_search_id("../x-0123456789")
    assert "too long" in check_search_id("x" * 80)
    assert name_from_file("specs/my spec (v2).yaml") == "my-spec-v2"
    assert name_from_file("/x/---.yaml") == "search"
    assert len(name_from_file("/x/" + "a" * 300 + ".yaml")) == 64


def test_limits_state_the_bound():
    assert limit_error("population", 1000) is None
    assert limit_error("population", 1001) == "must be <= 1000 (the limit for this field), got 1001"
    assert limit_error("crossover.points", 10**9).startswith("must be <= 10000")
    assert limit_error("name", 10**9) is None  # not a bounded field


@pytest.mark.parametrize(
    "item, args",
    [
        ("fora:3", ("fora", [3])),
        ("tgate:2:8", ("tgate", [2, 8])),
        ("random:0.3", ("random", [0.3])),
    ],
)
def test_parse_heuristic(item, args):
    assert parse_heuristic(item) == args


@pytest.mark.parametrize(
    "item, problem",
    [
        ("no-such:3", "unknown heuristic 'no-such'"),
        ("evenly-spaced:3", "unknown heuristic"),  # one component by name: not a seed item
        ("tgate_without_ca_avg:2", "takes 2 argument(s): tgate_without_ca_avg:m:k"),
        ("fora", "fora takes 1 argument(s): fora:n"),
        ("fora:x", "n must be a number (fora:n)"),
        ("fora:0", "n must be >= 1, got 0"),
        ("tgate_without_ca_avg:21:2", "m (gate step) must be in 1..20, got 21"),
        ("random:1.5", "p_reuse must be in [0, 1], got 1.5"),
        ("tgate:10:1", "true TGATE"),  # no genome: not a seed
        ("recompute_attn_every_n:2", "flux families, not pixart-alpha"),
        ("evenly_cache_ff_evenly_spaced:9:29", "num_affected_blocks must be in 1..28"),
    ],
)
def test_bad_heuristic_items(item, problem):
    assert problem in heuristic_item_error(item, 20, PIXART)
    assert heuristic_item_error("tgate_without_ca_avg:8:2", 20, PIXART) is None
    assert heuristic_item_error("fora:3", 20) is None  # no family: checked on PixArt-α's layout


def test_parse_heuristic_raises_naming_the_form():
    with pytest.raises(ConfigError, match=r"'tgate:2': tgate takes 2 argument\(s\): tgate:m:k"):
        parse_heuristic("tgate:2")


def test_num_blocks():
    assert num_blocks_error(PIXART, {"blocks": 2}) is None
    assert "1..28" in num_blocks_error(PIXART, {"blocks": 29})
    assert "no block group 'single'" in num_blocks_error(PIXART, {"single": 2})
    assert "must map block group" in num_blocks_error(PIXART, [2])


def _pipeline_dir(root, transformer_class):
    (root / "transformer").mkdir(parents=True)
    (root / "model_index.json").write_text("{}")
    (root / "transformer" / "config.json").write_text(
        json.dumps({"_class_name": transformer_class})
    )
    return root


def test_weights(tmp_path):
    good = _pipeline_dir(tmp_path / "alpha", "PixArtTransformer2DModel")
    assert resolve_local_weights("alpha", tmp_path) == good
    assert resolve_local_weights("PixArt-alpha/PixArt-XL-2-256x256", tmp_path) is None
    assert check_weights(PIXART, "alpha", good) is None
    assert check_weights(PIXART, "PixArt-alpha/PixArt-XL-2-256x256", None) is None
    assert "neither an existing directory nor a hub id" in check_weights(PIXART, "a/b/c", None)
    missing = resolve_local_weights("./nope", tmp_path)
    assert "does not exist" in check_weights(PIXART, "./nope", missing)
    flux = _pipeline_dir(tmp_path / "flux", "FluxTransformer2DModel")
    assert "holds a FluxTransformer2DModel transformer" in check_weights(PIXART, "flux", flux)
    broken = tmp_path / "broken"
    (broken / "transformer").mkdir(parents=True)
    (broken / "model_index.json").write_text("{}")
    (broken / "transformer" / "config.json").write_bytes(b"{")
    assert "cannot read the transformer config" in check_weights(PIXART, "broken", broken)
