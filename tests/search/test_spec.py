import pytest
import yaml

from ecad.errors import ConfigError
from ecad.search import load_spec
from ecad.search.setting import layout_for
from tests.search.conftest import REPO, write_spec


def test_shipped_specs_validate():
    for path in sorted((REPO / "specs").glob("*.yaml")):
        spec = load_spec(path)
        assert spec.search_id().startswith(spec.name)
        assert layout_for(spec).num_slots > 0


def test_defaults_and_overrides(spec_file):
    spec = load_spec(spec_file, ["population=10", "crossover.prob=0.5"])
    assert spec.population == 10 and spec.crossover == {"points": 4, "prob": 0.5}
    assert spec.mutation == {"individual_prob": 1.0, "bit_prob": None}
    assert len(spec.prompts["texts"]) == 3
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
        ({"initial_population": {"heuristics": ["fora:x"]}}, None),
    ],
)
def test_bad_fields(tmp_path, override, field):
    path = write_spec(tmp_path, **override)
    if field is None:
        load_spec(path)  # parsed; the bad item fails when the population is built
        return
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
