"""A search id is a content address: the same prompts give the same id wherever the prompt file
(or ecad itself) is installed; searches stored under the earlier, path-dependent ids keep them."""

from __future__ import annotations

import shutil

import pytest

from ecad.errors import ConfigError
from ecad.resources import find_spec
from ecad.search.session import SearchSession
from ecad.search.spec import SearchSpec, load_spec
from ecad.store import open_store
from ecad.store.keys import state_key

from .conftest import REPO, write_spec


def _spec_with_prompts_at(tmp_path, where: str):
    prompts = tmp_path / where / "calibration.txt"
    prompts.parent.mkdir(parents=True)
    shutil.copy(REPO / "prompts" / "calibration-100.txt", prompts)
    return load_spec(write_spec(tmp_path / where, prompts={"file": str(prompts), "limit": 3}))


def test_the_same_prompts_at_two_paths_give_one_id(tmp_path):
    here, there = _spec_with_prompts_at(tmp_path, "a"), _spec_with_prompts_at(tmp_path, "b")
    assert here.prompts.file != there.prompts.file
    assert here.search_id() == there.search_id()


def test_a_prompt_set_by_name_and_by_its_file_give_one_id(tmp_path):
    by_name = load_spec(write_spec(tmp_path / "n", prompts={"file": "calibration-100",
                                                            "limit": 3}))
    assert by_name.search_id() == load_spec(write_spec(tmp_path / "f")).search_id()


def test_a_copied_shipped_spec_validates_where_it_lands(tmp_path):
    copy = tmp_path / "tiny.yaml"
    shutil.copy(find_spec("tiny"), copy)
    assert load_spec(copy).search_id() == load_spec(find_spec("tiny")).search_id()


def test_a_missing_relative_prompt_file_names_the_directory_and_the_shipped_sets(tmp_path):
    spec = write_spec(tmp_path, prompts={"file": "../prompts/calibration-100.txt"})
    with pytest.raises(ConfigError) as info:
        load_spec(spec)
    message = str(info.value)
    assert "no such file" in message and str(tmp_path) in message
    assert "calibration-100" in message.split("shipped prompt set's name:")[1]


def test_a_placeholder_search_id_says_how_to_fill_it_in_one_line():
    with pytest.raises(ConfigError) as info:
        load_spec(find_spec("pixart-sigma-256"))
    message = str(info.value)
    assert "\n" not in message and "placeholder" in message
    assert "initial_population.from_search=pixart-alpha-256-" in message


def test_a_search_stored_under_its_version_1_id_keeps_it(tmp_path):
    spec = load_spec(write_spec(tmp_path))
    legacy_id = spec.legacy_search_id()
    assert legacy_id is not None and legacy_id != spec.search_id()
    # What version 1 wrote: the same resolved spec, its id digesting the prompt file's path.
    stored = SearchSpec.from_json({**spec.to_json(), "version": 1})
    assert stored.search_id() == legacy_id
    store = open_store(str(tmp_path / "store"))
    SearchSession.create(store, stored)
    assert store.exists(state_key(legacy_id))

    session, created = SearchSession.create(store, spec)  # the spec submitted again
    assert not created and session.search_id == legacy_id
    assert SearchSession.open(store, legacy_id).spec.search_id() == legacy_id
    assert not store.exists(state_key(spec.search_id()))
