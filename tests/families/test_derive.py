"""``ecad family derive``: records of real diffusers classes, and clear refusals of blocks the
engine cannot cache."""

from __future__ import annotations

import pytest
import torch
import yaml

from ecad.errors import FamilyError
from ecad.families import get_family
from ecad.families.derive import DeriveError, derive_record
from ecad.families.record import family_from_record

#: (group, module list, json prefix, [(component, path, role)]) per tiny pipeline
EXPECTED = {
    "SanaPipeline": [("blocks", "transformer_blocks", "", [
        ("attn1", "attn1", "self_attention"), ("attn2", "attn2", "cross_attention"),
        ("ff", "ff", "mlp")])],
    "ChromaPipeline": [
        ("blocks", "transformer_blocks", "", [
            ("attn", "attn", "joint_attention"), ("ff", "ff", "mlp"),
            ("ff_context", "ff_context", "mlp")]),
        ("single", "single_transformer_blocks", "single_", [
            ("single_proj_mlp", "proj_mlp", "mlp"), ("single_proj_out", "proj_out", "mlp"),
            ("single_attn", "attn", "self_attention")])],
    "Lumina2Pipeline": [
        ("noise_refiner", "noise_refiner", "noise_refiner_", [
            ("noise_refiner_attn", "attn", "self_attention"),
            ("noise_refiner_feed_forward", "feed_forward", "mlp")]),
        ("context_refiner", "context_refiner", "context_refiner_", [
            ("context_refiner_attn", "attn", "self_attention"),
            ("context_refiner_feed_forward", "feed_forward", "mlp")]),
        ("layers", "layers", "", [
            ("attn", "attn", "self_attention"), ("feed_forward", "feed_forward", "mlp")])],
}


@pytest.mark.parametrize("pipeline_class", sorted(EXPECTED))
def test_records_of_tiny_pipelines(derived_family, pipeline_class):
    directory, record_file, family = derived_family(pipeline_class)
    record = yaml.safe_load(record_file.read_text())
    assert record["pipeline_class"] == pipeline_class
    assert record["default_weights"] == str(directory)
    got = [(g.name, g.module_list, g.json_prefix,
            [(c, g.component_paths[c], g.roles[c]) for c in g.components])
           for g in family.block_groups]
    assert got == EXPECTED[pipeline_class]
    assert all(g.num_blocks >= 1 and g.num_blocks_key for g in family.block_groups)
    assert family.prompt_outputs[0] == "prompt_embeds"
    assert family.resolution_multiple() == (16 if pipeline_class != "SanaPipeline" else 8)


def test_class_name_is_derived_on_the_meta_device_at_full_size():
    record = derive_record("SanaTransformer2DModel")
    assert record["pipeline_class"] == "SanaPipeline" and record["default_weights"] is None
    assert record["transformer_config"]["num_layers"] == record["block_groups"][0]["num_blocks"]
    assert record["cost"]["device"] == "meta"
    assert record["vae_scale_factor"] == 32  # the pipeline's own factor for its DC-AE
    assert record["defaults"]["steps"] == 20 and record["max_sequence_length"] == 300


class TokenRouter(torch.nn.Module):
    """Not attention, not a feed-forward, not a norm: derivation must not guess."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return x * self.weight


def test_unrecognised_submodule_is_a_clear_error(monkeypatch):
    from diffusers.models.transformers import sana_transformer

    base = sana_transformer.SanaTransformerBlock

    class OddBlock(base):
        def __init__(self, dim, *args, **kwargs):
            super().__init__(dim, *args, **kwargs)
            self.router = TokenRouter(dim)

        def forward(self, hidden_states, *args, **kwargs):
            return self.router(super().forward(hidden_states, *args, **kwargs))

    monkeypatch.setattr(sana_transformer, "SanaTransformerBlock", OddBlock)
    with pytest.raises(DeriveError) as err:
        derive_record("SanaTransformer2DModel")
    message = str(err.value)
    assert "cannot classify SanaTransformer2DModel.transformer_blocks.0.router (TokenRouter)" in (
        message)
    assert "neither attention" in message


def test_component_the_hooks_cannot_cache_is_a_clear_error(monkeypatch):
    """Self-attention called twice per block call: one cached output per step cannot stand
    for both calls."""
    from diffusers.models.transformers import sana_transformer

    def block_forward(self, hidden_states, *args, **kwargs):
        return hidden_states + self.attn1(self.attn1(hidden_states))

    monkeypatch.setattr(sana_transformer.SanaTransformerBlock, "forward", block_forward)
    with pytest.raises(DeriveError, match=r"transformer_blocks\.0\.attn1 \(Attention\) is "
                                          r"called \[2\] times per block call"):
        derive_record("SanaTransformer2DModel")


def test_output_changed_in_place_is_a_clear_error(monkeypatch):
    from diffusers.models.transformers import sana_transformer

    def block_forward(self, hidden_states, *args, **kwargs):
        out = self.attn1(hidden_states)
        out.mul_(0.5)  # a cached output would be halved again at every reuse
        return hidden_states + out

    monkeypatch.setattr(sana_transformer.SanaTransformerBlock, "forward", block_forward)
    with pytest.raises(DeriveError, match=r"attn1 \(Attention\): the block changes this "
                                          "module's output in place"):
        derive_record("SanaTransformer2DModel")


def _record(**changes):
    record = derive_record("SanaTransformer2DModel", name="sana-x")
    record.update(changes)
    return record


def test_record_problems_are_reported_at_once_with_their_fields():
    record = _record(name="flux-dev", defaults={"steps": 0, "guidance": 4.5, "resolution": 1024,
                                                "dtype": "fp8"}, colour="blue")
    record["block_groups"][0]["components"][0]["role"] = "attention"
    with pytest.raises(FamilyError) as err:
        family_from_record(record, "my.yaml")
    message = str(err.value)
    for expected in ("my.yaml", "colour: unknown field", "defaults.steps: must be >= 1",
                     "defaults.dtype: 'fp8' unknown", "components[0].role: 'attention' unknown",
                     "name: 'flux-dev' is a built-in family's name"):
        assert expected in message


def test_family_id_follows_the_content_not_the_path(tmp_path):
    record = _record()
    text = yaml.safe_dump(record)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "f.yaml").write_text(text)
    (tmp_path / "b" / "f.yml").write_text(text)
    first = get_family(str(tmp_path / "a" / "f.yaml"))
    assert get_family(str(tmp_path / "b" / "f.yml")) is first
    assert first.name.startswith("sana-x@") and get_family(first.name) is first
    record["defaults"]["steps"] = 30
    (tmp_path / "a" / "f.yaml").write_text(yaml.safe_dump(record))
    edited = get_family(str(tmp_path / "a" / "f.yaml"))
    assert edited.name != first.name and edited.default_steps == 30
    with pytest.raises(FamilyError, match="ambiguous"):
        get_family("sana-x")
    with pytest.raises(FamilyError, match="ecad family derive"):
        get_family(str(tmp_path / "missing.yaml"))


def test_component_fed_the_step_conditioning_is_a_clear_error(monkeypatch):
    """A module given the timestep embedding may apply the gate itself: caching its output
    would replay an old step's modulation, so derivation refuses it."""
    from diffusers.models.transformers import sana_transformer

    def block_forward(self, hidden_states, attention_mask=None, encoder_hidden_states=None,
                      encoder_attention_mask=None, timestep=None, *args, **kwargs):
        return hidden_states + self.attn1(hidden_states, temb=timestep)

    monkeypatch.setattr(sana_transformer.SanaTransformerBlock, "forward", block_forward)
    with pytest.raises(DeriveError, match=r"attn1 \(Attention\) is given the step's "
                                          r"conditioning \(\['temb'\]\)"):
        derive_record("SanaTransformer2DModel")


def test_a_group_whose_blocks_differ_is_a_clear_error():
    """SD3's last joint block has no ``ff_context``: one record cannot describe both."""
    with pytest.raises(DeriveError, match=r"SD3Transformer2DModel\.transformer_blocks\.\d+\."
                                          r"ff_context is NoneType, but block 0's is FeedForward"):
        derive_record("SD3Transformer2DModel", pipeline_class="StableDiffusion3Pipeline")


def test_flux_derived_as_a_record_matches_the_built_in_components():
    record = derive_record("FluxTransformer2DModel")
    assert record["name"] == "flux-derived"  # never a built-in's name
    flux = get_family("flux-dev")
    paths = {g["module_list"]: sorted(c["path"] for c in g["components"])
             for g in record["block_groups"]}
    assert paths == {g.module_list: sorted(g.component_paths.values()) for g in flux.block_groups}
    assert record["cost"]["inputs"]["img_ids"]["shape"] == ["tokens", 3]
