"""CLIP score: how well each image matches its prompt, by a CLIP model of transformers.

Same definition as torchmetrics' ``CLIPScore``: ``100 * max(cos(image, text), 0)`` with the
model's projected embeddings, per image (torchmetrics averages; we keep each image's score).
transformers' ``CLIPModel`` is used directly because torchmetrics' wrapper does not follow
transformers 5. Prompts longer than the text encoder's context are truncated, as there.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image

from ecad.scoring.base import LazyModel, batched, check_images, require, resolve_device
from ecad.scoring.errors import ScorerError

__all__ = ["DEFAULT_CLIP_MODEL", "ClipScorer"]

DEFAULT_CLIP_MODEL = "openai/clip-vit-large-patch14"  # torchmetrics' default too


class ClipScorer(LazyModel):
    """CLIP score per image (0-100, higher is better) from a hub id or a local directory.

    >>> scorer = ClipScorer("openai/clip-vit-base-patch16", device="cuda")  # doctest: +SKIP
    >>> scorer.score(images, prompts)  # doctest: +SKIP
    array([31.2, 27.9, ...])

    ``clamp=False`` keeps negative similarities (``100 * cos``), useful to rank images that a
    weak model finds unrelated to the prompt.
    """

    name = "clip-score"
    higher_is_better = True
    needs_references = False

    def __init__(self, model: str = DEFAULT_CLIP_MODEL, device: str | None = None,
                 batch_size: int = 32, clamp: bool = True) -> None:
        self.model_id, self.device = model, resolve_device(device)
        self.batch_size, self.clamp = batch_size, clamp

    def _load(self) -> Any:
        transformers = require("transformers")
        try:
            model = transformers.CLIPModel.from_pretrained(self.model_id)
            processor = transformers.CLIPProcessor.from_pretrained(self.model_id)
        except (OSError, ValueError) as exc:
            raise ScorerError(f"clip-score model {self.model_id!r}: cannot load ({exc}); pass "
                              "model=DIR saved with save_pretrained (model and processor)") from exc
        return model.to(self.device).eval(), processor

    def score(self, images: Sequence[Image.Image], prompts: Sequence[str],
              references: Sequence[Image.Image] | None = None) -> np.ndarray:
        """One CLIP score per image, against the prompt at the same position."""
        import torch

        check_images(self.name, images, prompts)
        model, processor = self.model
        context = model.config.text_config.max_position_embeddings
        out = []
        with torch.inference_mode():
            for start, chunk in zip(range(0, len(images), self.batch_size),
                                    batched(images, self.batch_size), strict=True):
                ims = [im.convert("RGB") for im in chunk]
                texts = list(prompts[start:start + len(chunk)])
                inputs = processor(text=texts, images=ims, return_tensors="pt", padding=True,
                                   truncation=True, max_length=context).to(self.device)
                result = model(**inputs)
                cos = (result.image_embeds * result.text_embeds).sum(-1)
                out.append((100.0 * (cos.clamp(min=0) if self.clamp else cos)).double().cpu())
        return torch.cat(out).numpy()
