import pytest
import yaml

from ecad.errors import ConfigError
from ecad.search import SearchSpec, load_spec
from ecad.search.setting import layout_for
from ecad.search.spec import PLACEHOLDER, SPEC_VERSION, CrossoverSpec, MutationSpec, QualitySpec
from ecad.store import FilesystemStore
from ecad.store.records import RecordError, StoreObjectError, parse_record, read_record
from tests.search.conftest import REPO, write_spec


def test_shipped_specs_validate():
    for path in sorted((REPO / "specs").glob("*.yaml")):
        # a transfer spec names the finished search it starts from: the user fills that in
        filled = ["initial_population.from_search=done-0123456789"]
        spec = load_spec(path, filled if PLACEHOLDER in path.read_text() else [])
        assert spec.search_id().startswith(spec.name)
        assert layout_for(spec).num_slots > 0


def test_defaults_and_overrides(spec_file):
    spec = load_spec(spec_file, ["population=10", "crossover.prob=0.5"])
    assert spec.population == 10 and spec.crossover == CrossoverSpec(points=4, prob=0.5)
    assert spec.mutation == MutationSpec(individual_prob=1.0, bit_prob=None)
    assert len(spec.prompts.texts) == 3
    assert layout_for(spec).num_blocks("blocks") == 2
    assert load_spec(spec_file).digest() != spec.digest()


def test_every_error_reported_at_once(tmp_path):
    path = write_spec(
        tmp_path,
        family="sdxl",
        population=1,
        images_per_prompt=0,
        resolution="big",
        prompts={"file": str(tmp_path / "missing.txt")},
        colour="red",
    )
    with pytest.raises(ConfigError) as info:
        load_spec(path)
    msg = str(info.value)
    for field in (
        "family:",
        "population:",
        "images_per_prompt:",
        "resolution:",
        "prompts.file:",
        "colour:",
    ):
        assert field in msg, field
    assert str(path) in msg


@pytest.mark.parametrize(
    "override, field",
    [
        ({"resolution": 70}, "resolution: 70 is not divisible by 16"),
        ({"population": 1}, "population: must be >= 2"),
        ({"images_per_prompt": 0}, "images_per_prompt: must be >= 1"),
        ({"steps": "many"}, "steps: must be an integer"),
        ({"quality": {"scorer": "vibes"}}, "quality.scorer"),
        ({"cost": {"mode": "latency"}}, "cost.table"),
        ({"mutation": {"bit_prob": 2}}, "mutation.bit_prob"),
        ({"initial_population": {"heuristics": ["fora:x"]}}, "heuristics: 'fora:x': fora: n must"),
    ],
)
def test_bad_fields(tmp_path, override, field):
    path = write_spec(tmp_path, **override)
    with pytest.raises(ConfigError, match=field.replace("(", r"\(")):
        load_spec(path)


def test_unreadable_and_malformed(tmp_path):
    (tmp_path / "empty.txt").write_text("\n\n")
    with pytest.raises(ConfigError, match=r"prompts\.file"):
        load_spec(write_spec(tmp_path, prompts={"file": str(tmp_path / "empty.txt")}))
    (tmp_path / "bad.yaml").write_text("family: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_spec(tmp_path / "bad.yaml")
    with pytest.raises(ConfigError, match="key=value"):
        load_spec(write_spec(tmp_path), ["population"])
    assert yaml  # keep import for readability of write_spec users


def test_spec_is_frozen_and_typed(spec_file):
    spec = load_spec(spec_file)
    assert isinstance(spec.quality, QualitySpec) and spec.quality.scorer == "fidelity"
    assert spec.quality.name == spec.quality.metric
    with pytest.raises(AttributeError):
        spec.population = 3  # type: ignore[misc]
    with pytest.raises(TypeError):
        spec.quality.options["x"] = 1  # type: ignore[index]


def test_json_round_trip_keeps_digest(spec_file):
    spec = load_spec(spec_file, ["quality.hv_reference=3.0", "cost.batch=4"])
    data = spec.to_json()
    assert data["version"] == SPEC_VERSION
    again = SearchSpec.from_json(data)
    assert again == spec and again.digest() == spec.digest()
    assert again.quality.hv_reference == 3.0 and again.cost.batch == 4
    # a store written before versions (no "version" field) still loads, to the id it had then
    legacy = {k: v for k, v in data.items() if k != "version"}
    assert SearchSpec.from_json(legacy).search_id() == spec.legacy_search_id()


def test_digest_ignores_name_and_version(spec_file):
    spec = load_spec(spec_file)
    renamed = SearchSpec.from_json({**spec.to_json(), "name": "other"})
    assert renamed.digest() == spec.digest() and renamed.search_id() != spec.search_id()


@pytest.mark.parametrize(
    "change, problem",
    [
        ({"version": 99}, "made by version 99"),
        ({"population": "many"}, "population: must be int"),
        ({"quality": []}, "quality: must be Mapping"),
        ({"prompts": {"file": "x"}}, "prompts.texts: missing"),
        ({"initial_population": {"kind": "magic"}}, "unknown kind 'magic'"),
    ],
)
def test_wrong_shaped_spec_is_one_error(spec_file, change, problem):
    data = {**load_spec(spec_file).to_json(), **change}
    with pytest.raises(RecordError, match=problem):
        SearchSpec.from_json(data)
    with pytest.raises(StoreObjectError, match=r"searches/x/spec\.json: malformed") as info:
        parse_record("searches/x/spec.json", data, SearchSpec.from_json)
    assert info.value.key == "searches/x/spec.json"


def test_garbage_and_truncated_objects(tmp_path, spec_file):
    store = FilesystemStore(tmp_path)
    store.put("a/spec.json", b'{"name": "tr')
    store.put("a/list.json", b"[]")
    with pytest.raises(StoreObjectError, match=r"a/spec\.json: not valid JSON"):
        read_record(store, "a/spec.json", SearchSpec.from_json)
    with pytest.raises(StoreObjectError, match=r"a/list\.json: malformed.*JSON object"):
        read_record(store, "a/list.json", SearchSpec.from_json)
