"""Cost tables of derived families against FlopCounterMode over the plain CPU forward of the
same tiny transformer, with inputs written here by hand (Lumina 2's table is counted with one
block per group and scaled: this checks the scaling too)."""

from __future__ import annotations

import pytest
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from ecad.cost import macs_table
from ecad.cost.flops import LINEAR_OPS
from tests.families.tiny_derived import DERIVED_CLASSES

BATCH, TEXT, LATENT = 2, 8, 8  # 64 px through a factor-8 VAE


def _inputs(pipeline_class: str) -> dict:
    hidden = torch.randn(BATCH, 4, LATENT, LATENT)
    if pipeline_class == "ChromaPipeline":
        tokens = (LATENT // 2) ** 2
        return {"hidden_states": torch.randn(BATCH, tokens, 16),
                "encoder_hidden_states": torch.randn(BATCH, TEXT, 32),
                "timestep": torch.ones(BATCH), "img_ids": torch.zeros(tokens, 3),
                "txt_ids": torch.zeros(TEXT, 3)}
    mask = torch.ones(BATCH, TEXT, dtype=torch.bool)
    return {"hidden_states": hidden, "encoder_hidden_states": torch.randn(BATCH, TEXT, 8),
            "timestep": torch.ones(BATCH), "encoder_attention_mask": mask}


@pytest.mark.parametrize("pipeline_class", sorted(DERIVED_CLASSES))
@pytest.mark.parametrize("mode", ["macs", "macs-linear"])
def test_table_total_equals_an_independent_count(derived_family, pipeline_class, mode):
    _, _, family = derived_family(pipeline_class)
    import diffusers

    model = getattr(diffusers, family.transformer_class).from_config(
        dict(family.transformer_config)).eval()
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad(), sdpa_kernel(SDPBackend.MATH):
        model(**_inputs(pipeline_class))
    counts = counter.get_flop_counts()["Global"]
    expected = sum(v for op, v in counts.items()
                   if mode == "macs" or str(op) in LINEAR_OPS) / 2
    table = macs_table(family, LATENT * 8, BATCH, mode, text_tokens=TEXT)
    assert table.base + table.slot_costs.sum() == pytest.approx(expected, rel=1e-9)
    assert table.slot_costs.min() > 0
