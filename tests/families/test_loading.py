import pytest
import torch

from ecad.errors import ConfigError, FamilyError
from ecad.families import get_family
from ecad.families.loading import load_pipeline, parse_dtype, resolve_weights
from tests.conftest import FAMILY_NAMES, FIRST_CLASS_NAMES


@pytest.mark.parametrize("name", FAMILY_NAMES + FIRST_CLASS_NAMES)
def test_local_directory_loads_like_a_hub_id(tiny_dirs, name, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    family = get_family(name)
    pipe = load_pipeline(family, str(tiny_dirs[name]))
    assert type(pipe).__name__ == family.pipeline_class
    assert type(pipe.transformer).__name__ == family.transformer_class
    assert pipe.transformer.dtype == torch.float32  # CPU default
    built = family.build_tiny_pipeline(seed=0)
    for key, value in built.transformer.state_dict().items():
        assert torch.equal(pipe.transformer.state_dict()[key], value), key
    no_text = load_pipeline(family, str(tiny_dirs[name]), text_encoders=False)
    assert no_text.text_encoder is None and no_text.transformer is not None


def test_tiny_keyword_materialises_once():
    family = get_family("pixart-alpha")
    first = resolve_weights(family, "tiny")
    assert resolve_weights(family, "tiny") == first
    assert load_pipeline(family, "tiny", denoiser=False).transformer is None


def test_errors(tmp_path):
    with pytest.raises(FamilyError, match="unknown model family"):
        get_family("sdxl")
    with pytest.raises(ConfigError, match=r"model_index\.json"):
        load_pipeline(get_family("flux-dev"), str(tmp_path))
    with pytest.raises(ConfigError, match="cannot load"):
        load_pipeline(get_family("flux-dev"), "nobody/no-such-model-offline")
    with pytest.raises(ConfigError, match="dtype"):
        parse_dtype("int8")
    assert get_family("PixArt_Sigma").name == "pixart-sigma"
