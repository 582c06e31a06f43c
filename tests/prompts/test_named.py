"""The named ImageReward benchmark set: loaded from the user's file, verified by digest."""

import json

import pytest

from ecad.errors import ConfigError
from ecad.prompts import NAMED_PROMPT_SETS, load_named_prompts
from ecad.prompts.named import ids_digest

NAME = "imagereward-benchmark-100"


@pytest.fixture
def reference_prompts(reference_dir):
    return reference_dir / "prompts" / "ImageRewardPrompts.json"


def test_loads_the_reference_file_in_place(reference_prompts):
    ps = load_named_prompts(NAME, reference_prompts)
    items = json.loads(reference_prompts.read_text())
    assert list(ps.prompts) == [i["prompt"] for i in items]  # all 100, in file order
    assert list(ps.ids) == [i["id"] for i in items] and ps.ids[0] == "005695-0057"
    assert ps.digest() == NAMED_PROMPT_SETS[NAME].prompts_sha256
    assert ids_digest(ps.ids) == NAMED_PROMPT_SETS[NAME].ids_sha256


def test_env_var_names_the_file(reference_prompts, monkeypatch):
    monkeypatch.setenv(NAMED_PROMPT_SETS[NAME].env_var, str(reference_prompts))
    assert len(load_named_prompts(NAME)) == 100
    monkeypatch.delenv(NAMED_PROMPT_SETS[NAME].env_var)
    with pytest.raises(ConfigError, match="ECAD_IMAGEREWARD_BENCHMARK_PROMPTS=/path/to/it"):
        load_named_prompts(NAME)


@pytest.mark.parametrize("change", ["reorder", "edit", "drop", "ids"])
def test_any_other_file_is_refused_naming_it_and_the_digest(reference_prompts, tmp_path, change):
    items = json.loads(reference_prompts.read_text())
    if change == "reorder":
        items[0], items[1] = items[1], items[0]
    elif change == "edit":
        items[5]["prompt"] += "!"
    elif change == "drop":
        items = items[:99]
    else:
        items[3]["id"] = "000000-0000"
    bad = tmp_path / "prompts.json"
    bad.write_text(json.dumps(items))
    with pytest.raises(ConfigError) as info:
        load_named_prompts(NAME, bad)
    assert str(bad) in str(info.value)
    assert NAMED_PROMPT_SETS[NAME].prompts_sha256 in str(info.value)


def test_unknown_set():
    with pytest.raises(ConfigError, match="unknown prompt set 'parti'"):
        load_named_prompts("parti", "x.json")
