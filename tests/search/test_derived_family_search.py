"""A search whose spec names a derived family's record file: resolution against the spec's
folder, the record's content (not its path) in the digest, the record travelling with the stored
spec, and one ``ecad search`` end to end per derived class."""

from __future__ import annotations

import json
import shutil

import pytest
import yaml
from click.testing import CliRunner

import ecad.families as families
from ecad.cli.main import cli
from ecad.search.spec import SearchSpec, load_spec
from tests.families.tiny_derived import DERIVED_CLASSES
from tests.search.conftest import write_spec


def _spec(tmp_path, record, **overrides):
    folder = tmp_path / "families"
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(record, folder / "model.yaml")
    settings = dict(family="./families/model.yaml", weights=None, resolution=32, steps=3,
                    population=2, generations=1, min_diff=1, shard_size=1, batch_size=1)
    settings.update(overrides)
    settings = {k: v for k, v in settings.items() if v is not None}
    spec = write_spec(tmp_path, **settings)
    data = yaml.safe_load(spec.read_text())
    data.pop("weights")  # the record's default weights
    data["prompts"]["limit"] = 1
    spec.write_text(yaml.safe_dump(data))
    return spec


def test_record_path_is_relative_to_the_spec_and_its_content_is_digested(
    tmp_path, derived_family, monkeypatch
):
    _, record, family = derived_family("SanaPipeline")
    a = load_spec(_spec(tmp_path / "a", record))
    b = load_spec(_spec(tmp_path / "b", record))
    assert a.family == b.family == family.name
    assert a.digest() == b.digest()
    edited = yaml.safe_load(record.read_text())
    edited["defaults"]["guidance"] = 3.0
    (tmp_path / "b" / "families" / "model.yaml").write_text(yaml.safe_dump(edited))
    c = load_spec(tmp_path / "b" / "t.yaml")
    assert c.family != a.family and c.digest() != a.digest()
    # A worker or scheduler that never read the file gets the family from the stored spec.
    monkeypatch.setattr(families, "_DERIVED", {})
    stored = SearchSpec.from_json(json.loads(json.dumps(a.to_json())))
    assert stored == a and families.get_family(stored.family).record == family.record


def test_stored_spec_with_a_tampered_record_is_refused(tmp_path, derived_family):
    from ecad.store.records import RecordError

    _, record, _ = derived_family("SanaPipeline")
    data = load_spec(_spec(tmp_path, record)).to_json()
    data["family_record"]["defaults"]["steps"] = 99
    with pytest.raises(RecordError, match=r"family_record: the record is .*, the spec names"):
        SearchSpec.from_json(data)


def test_tiny_weights_are_refused_for_a_derived_family(tmp_path, derived_family):
    from ecad.errors import ConfigError

    _, record, _ = derived_family("SanaPipeline")
    spec = _spec(tmp_path, record)
    data = yaml.safe_load(spec.read_text())
    data["weights"] = "tiny"
    spec.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match=r"weights: derived family .* has no built-in tiny"):
        load_spec(spec)


@pytest.mark.parametrize("pipeline_class", sorted(DERIVED_CLASSES))
def test_one_generation_of_ecad_search(tmp_path, derived_family, pipeline_class):
    _, record, family = derived_family(pipeline_class)
    spec = _spec(tmp_path, record)
    result = CliRunner().invoke(cli, ["search", str(spec), "--store", str(tmp_path / "store")])
    assert result.exit_code == 0, result.output
    assert f'"family": "{family.name}"' in result.output
    assert "generation 1/1  HV " in result.output
    front = [line for line in result.output.splitlines() if "_gen_001_front_" in line]
    assert front, result.output
