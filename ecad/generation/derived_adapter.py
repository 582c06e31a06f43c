"""The calling convention of a derived family's pipeline, worked out from the pipeline itself.

Prompts are embedded by the pipeline's own ``encode_prompt``, called by keyword through its
signature: the prompts, an empty negative prompt, classifier-free guidance on, the family's
``max_sequence_length``, and for every other argument that ``__call__`` shares with it (Sana's
``complex_human_instruction``, Lumina 2's ``system_prompt``) the default ``__call__`` would pass,
so the embeddings are the ones a plain pipeline call computes. Its outputs are named by the
record's ``prompt_encoding.outputs`` (read from ``encode_prompt``'s ``return`` at derivation);
those the call takes go back to ``__call__`` as keywords.

Initial noise: the pipeline draws it from one CPU generator per image (``generator=[...]``), so an
image's noise depends on its own seed only, not on its batch, as for the built-in kinds.

Limits: a pipeline whose ``encode_prompt`` needs arguments ``__call__`` does not have, or whose
outputs are not the call's keywords, needs the record edited by hand; the ``reference`` seed rule
(one generator drawing every prompt's latents) needs a latent shape and is not offered.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

import torch

from ecad.errors import ConfigError, FamilyError
from ecad.families import ModelFamily
from ecad.generation.pipeline_adapter import PipelineAdapter

__all__ = ["DerivedAdapter"]

#: encode_prompt arguments set here, never copied from ``__call__``'s defaults.
_OWN = frozenset({"self", "prompt", "prompt_2", "negative_prompt", "negative_prompt_2",
                  "device", "num_images_per_prompt", "do_classifier_free_guidance",
                  "max_sequence_length", "clean_caption", "lora_scale"})


class DerivedAdapter(PipelineAdapter):
    kind = "derived"

    def __init__(self, family: ModelFamily) -> None:
        self.family = family
        self.text_components = family.text_components
        self.embedding_names = tuple(n for n in family.prompt_outputs if n)

    def embed(self, pipe: Any, prompts: Sequence[str], max_length: int) -> dict[str, torch.Tensor]:
        encode = pipe.encode_prompt
        params = inspect.signature(encode).parameters
        call = inspect.signature(type(pipe).__call__).parameters
        kwargs: dict[str, Any] = {
            "prompt": list(prompts),
            "negative_prompt": "",
            "device": pipe._execution_device,
            "num_images_per_prompt": 1,
            "do_classifier_free_guidance": True,
            "max_sequence_length": max_length,
            "clean_caption": False,
        }
        for name, p in call.items():
            if name in params and name not in _OWN and not name.endswith("_embeds") and \
                    "mask" not in name and p.default is not inspect.Parameter.empty:
                kwargs[name] = p.default
        outputs = encode(**{k: v for k, v in kwargs.items() if k in params})
        outputs = outputs if isinstance(outputs, tuple) else (outputs,)
        names = self.family.prompt_outputs
        if len(outputs) != len(names):
            raise FamilyError(
                f"{type(pipe).__name__}.encode_prompt returned {len(outputs)} values but the "
                f"family record {self.family.name} names {len(names)} "
                f"(prompt_encoding.outputs: {list(names)}); fix the record"
            )
        return {n: t for n, t in zip(names, outputs) if n and t is not None}

    def latents(self, pipe, generators, height, width):
        raise ConfigError(
            f"{self.family.name} is a derived family: its pipeline draws the initial noise; the "
            "'reference' seed rule needs a latent shape, use image_seed_rule: ecad"
        )

    def noise_kwargs(self, pipe, generators, height, width, device, dtype) -> dict[str, Any]:
        return {"generator": list(generators)}

    def call_kwargs(self, embeddings):
        return dict(embeddings)

    def call_options(self, pipe: Any) -> dict[str, Any]:
        """Keywords that keep the pipeline from re-encoding or resizing: no negative prompt
        text (its embeddings are given), no resolution binning, no caption cleaning."""
        params = inspect.signature(type(pipe).__call__).parameters
        wanted = {"negative_prompt": None, "use_resolution_binning": False,
                  "clean_caption": False}
        return {k: v for k, v in wanted.items() if k in params}
