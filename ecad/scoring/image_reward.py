"""ImageReward (Xu et al., 2023) through the ``image-reward`` package, scored in batches.

This is the only module that imports the package. It needs three things the package does not do:

* **transformers 5 shims**, installed once and only where the name is missing: the package's
  ``med.py`` imports ``apply_chunking_to_forward``, ``prune_linear_layer`` and
  ``find_pruneable_heads_and_indices`` from ``transformers.modeling_utils`` (moved or removed),
  calls ``get_head_mask``/``invert_attention_mask`` (removed from ``PreTrainedModel``) and
  ``init_weights`` (which now needs ``post_init``). The package also imports ``clip``, whose
  only use of ``pkg_resources`` is ``pkg_resources.packaging``: where setuptools no longer ships
  ``pkg_resources`` (or is not installed), a stand-in module giving ``packaging`` takes its place,
  so the scoring extra pins no setuptools (pinning one would downgrade what torch installed).
* **local loading**: the package downloads ``bert-base-uncased`` inside the model constructor and
  its BLIP ViT is fixed at ViT-L/16-224. We build the tokenizer from the given directory (or hub
  id) and the ViT from the checkpoint's own shapes (so a real checkpoint gets ViT-L/16-224 and a
  tiny test checkpoint a tiny ViT), then construct the package's own ``ImageReward`` class. Offline,
  ``BertTokenizer.from_pretrained`` silently returns a 5-token vocabulary; we refuse any
  tokenizer whose size differs from the text encoder's embedding table.
* **batching**: the package scores one image per forward. We run the same computation (its
  ``preprocess``, BLIP ViT, BERT with cross-attention, reward MLP, normalisation) on a batch;
  every prompt is padded to 35 tokens exactly as the package does, so batched scores equal its
  per-image ``score()`` (to float rounding). Images are resized on a thread pool, two batches
  ahead of the device, and ``ToTensor`` + ``Normalize`` run per batch on the device
  (:mod:`ecad.scoring.pixels`); each distinct prompt is tokenized once.

Checkpoints are read with ``torch.load(weights_only=True)`` or safetensors; never unpickled.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import warnings
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ecad.scoring.base import LazyModel, batched, check_images, once, require, resolve_device
from ecad.scoring.errors import ScorerError
from ecad.scoring.pixels import SplitPreprocess
from ecad.scoring.weights import read_state_dict

__all__ = [
    "HUB_REPO",
    "HUB_TOKENIZER",
    "ImageRewardScorer",
    "VisionSpec",
    "build_image_reward",
    "load_image_reward",
]

log = logging.getLogger(__name__)

HUB_REPO = "THUDM/ImageReward"
HUB_TOKENIZER = "bert-base-uncased"
MAX_PROMPT_TOKENS = 35  # the package pads and truncates every prompt to 35 tokens
MIN_VOCABULARY = 100  # fewer regular tokens than this is a degenerate (offline) tokenizer
_VIT = "blip.visual_encoder."


@dataclass(frozen=True)
class VisionSpec:
    """Shape of the BLIP ViT; the real ImageReward uses ``VisionSpec()`` (ViT-L/16 at 224)."""

    image_size: int = 224
    patch_size: int = 16
    width: int = 1024
    depth: int = 24
    heads: int = 16
    mlp_ratio: float = 4.0

    @classmethod
    def from_state_dict(cls, state: dict[str, Any], heads: int | None = None) -> VisionSpec:
        """Read the ViT's shape from a checkpoint; heads default to width / 64 (ViT-B and -L)."""
        try:
            width, _, patch, _ = state[f"{_VIT}patch_embed.proj.weight"].shape
            tokens = state[f"{_VIT}pos_embed"].shape[1] - 1
            hidden = state[f"{_VIT}blocks.0.mlp.fc1.weight"].shape[0]
        except KeyError as exc:
            raise ScorerError(f"not an ImageReward checkpoint: no tensor {exc}") from exc
        depth = len({k.split(".")[3] for k in state if k.startswith(f"{_VIT}blocks.")})
        grid = round(tokens**0.5)
        if heads is None and width % 64:
            raise ScorerError(f"ViT width {width} is not a multiple of 64; pass vision_heads=")
        return cls(grid * patch, patch, width, depth, heads or width // 64, hidden / width)


def _provide_pkg_resources_packaging() -> None:
    """``clip`` does ``from pkg_resources import packaging`` (for version comparisons only).
    Where ``pkg_resources`` cannot be imported, register a module that provides just that."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import pkg_resources  # noqa: F401
        return
    except ImportError:
        pass
    import types

    import packaging.version

    stand_in = types.ModuleType("pkg_resources", "ecad's stand-in: pkg_resources.packaging only")
    stand_in.packaging = packaging  # type: ignore[attr-defined]  # a bare module: set at run time
    sys.modules["pkg_resources"] = stand_in


@once
def _install_shims() -> None:
    """Patch only what transformers 5 lacks, before the package's ``med.py`` is imported."""
    import torch
    import transformers.modeling_utils as modeling_utils
    import transformers.pytorch_utils as pytorch_utils

    for name in ("apply_chunking_to_forward", "prune_linear_layer"):
        if not hasattr(modeling_utils, name):
            setattr(modeling_utils, name, getattr(pytorch_utils, name))
    if not hasattr(modeling_utils, "find_pruneable_heads_and_indices"):
        def find_pruneable_heads_and_indices(*args: Any, **kwargs: Any) -> Any:
            raise NotImplementedError("head pruning is not supported by ecad's ImageReward shim")

        modeling_utils.find_pruneable_heads_and_indices = find_pruneable_heads_and_indices

    _provide_pkg_resources_packaging()
    with warnings.catch_warnings():  # pkg_resources, where present, warns that it is deprecated
        warnings.simplefilter("ignore", UserWarning)
        require("clip", "openai-clip")
    med = require("ImageReward.models.BLIP.med", "image-reward==1.5")

    def get_head_mask(self: Any, head_mask: Any, num_layers: int, *_: Any) -> list[None]:
        if head_mask is not None:
            raise NotImplementedError("head masks are not supported by ecad's ImageReward shim")
        return [None] * num_layers

    def invert_attention_mask(self: Any, mask: Any) -> Any:
        extended = mask[:, None, None, :] if mask.dim() == 2 else mask[:, None, :, :]
        extended = extended.to(dtype=self.dtype)
        return (1.0 - extended) * torch.finfo(self.dtype).min

    def init_weights(self: Any) -> None:  # transformers 4 behaviour: no tied weights here
        self.apply(self._init_weights)

    cls = med.BertPreTrainedModel
    for name, fn in (("get_head_mask", get_head_mask),
                     ("invert_attention_mask", invert_attention_mask)):
        if not hasattr(cls, name):
            setattr(cls, name, fn)
    # transformers 5's init_weights needs state set by post_init, which med.py never calls
    cls.init_weights = init_weights


def _load_tokenizer(name: str, vocab_size: int) -> Any:
    """The package's BLIP tokenizer ([DEC] bos, [ENC] extra), from a directory or hub id."""
    from transformers import BertTokenizer

    try:
        tok = BertTokenizer.from_pretrained(name)
    except (OSError, ValueError) as exc:
        raise ScorerError(f"ImageReward tokenizer {name!r}: cannot load ({exc}); pass "
                          "tokenizer=DIR holding bert-base-uncased's vocab.txt") from exc
    tok.add_special_tokens({"bos_token": "[DEC]"})
    tok.add_special_tokens({"additional_special_tokens": ["[ENC]"]})
    tok.enc_token_id = tok.convert_tokens_to_ids("[ENC]")
    regular = len(tok) - len(set(tok.all_special_tokens))
    if len(tok) != vocab_size or regular < MIN_VOCABULARY:
        raise ScorerError(
            f"ImageReward tokenizer {name!r} has {len(tok)} tokens ({regular} regular) but the "
            f"text encoder's med_config expects vocab_size={vocab_size}. Offline, transformers "
            "builds an empty BERT vocabulary instead of failing; pass tokenizer=DIR holding "
            "bert-base-uncased's vocab.txt (or run once online)"
        )
    return tok


def _read_med_config(path: str | os.PathLike) -> dict[str, Any]:
    try:
        config = json.loads(Path(path).read_text())
        int(config["vocab_size"]), int(config["hidden_size"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ScorerError(f"{path}: not a BERT med_config.json with vocab_size and hidden_size "
                          f"({exc})") from exc
    return config


def build_image_reward(
    med_config: str | os.PathLike,
    tokenizer: str,
    vision: VisionSpec,
    reward_input: int | None = None,
) -> Any:
    """The package's ``ImageReward`` module with random weights, on the CPU.

    ``reward_input`` is the reward MLP's input width (default: the text encoder's hidden size;
    the package hard-codes 768, which is what the real model has).
    """
    _install_shims()
    import ImageReward.models.BLIP.blip_pretrain as blip_pretrain
    from ImageReward.ImageReward import MLP, ImageReward, _transform
    from ImageReward.models.BLIP.vit import VisionTransformer

    text = _read_med_config(med_config)
    tok = _load_tokenizer(tokenizer, int(text["vocab_size"]))

    def create_vit(*_: Any, **__: Any) -> tuple[Any, int]:
        vit = VisionTransformer(img_size=vision.image_size, patch_size=vision.patch_size,
                                embed_dim=vision.width, depth=vision.depth,
                                num_heads=vision.heads, mlp_ratio=vision.mlp_ratio)
        return vit, vision.width

    saved = blip_pretrain.init_tokenizer, blip_pretrain.create_vit
    blip_pretrain.init_tokenizer, blip_pretrain.create_vit = (lambda: tok), create_vit
    try:
        model = ImageReward(med_config=str(med_config), device="cpu")
    finally:
        blip_pretrain.init_tokenizer, blip_pretrain.create_vit = saved
    width = reward_input or int(text["hidden_size"])
    if width != model.mlp.input_size:
        model.mlp = MLP(width)
    model.preprocess = _transform(vision.image_size)
    return model.eval()


def _hub_file(filename: str, cache_dir: str | None) -> str:
    from huggingface_hub import hf_hub_download

    try:
        return hf_hub_download(HUB_REPO, filename, cache_dir=cache_dir)
    except Exception as exc:  # offline, no such repo, HTTP errors: all mean "give local paths"
        raise ScorerError(f"cannot get {filename} of {HUB_REPO} from the hub ({exc}); pass "
                          "checkpoint=, med_config= and tokenizer= local paths") from exc


def load_image_reward(
    checkpoint: str | os.PathLike | None = None,
    med_config: str | os.PathLike | None = None,
    tokenizer: str | None = None,
    device: Any = None,
    vision_heads: int | None = None,
    cache_dir: str | None = None,
) -> Any:
    """The package's ``ImageReward`` model, from the hub (default) or local files.

    >>> model = load_image_reward("ImageReward.pt", "med_config.json", "bert-base-uncased/")
    ... # doctest: +SKIP
    >>> model.score("a red fox in snow", image)  # the package's own per-image API  # doctest: +SKIP
    """
    checkpoint = checkpoint or _hub_file("ImageReward.pt", cache_dir)
    med_config = med_config or _hub_file("med_config.json", cache_dir)
    state = read_state_dict(checkpoint)
    mlp = state.get("mlp.layers.0.weight")
    model = build_image_reward(med_config, str(tokenizer or HUB_TOKENIZER),
                               VisionSpec.from_state_dict(state, vision_heads),
                               None if mlp is None else int(mlp.shape[1]))
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected:
        log.info("%s: ignored %d tensors ImageReward does not use", checkpoint, len(unexpected))
    missing = [k for k in missing if not k.endswith("position_ids")
               and k.split(".")[0] in ("blip", "mlp") and "_proj." not in k]
    if missing:
        raise ScorerError(f"{checkpoint}: {len(missing)} ImageReward tensors missing, e.g. "
                          f"{missing[:3]}; is it an ImageReward checkpoint for this med_config?")
    device = resolve_device(device)
    model.device = device
    return model.to(device).eval()


class ImageRewardScorer(LazyModel):
    """ImageReward per image, batched. Higher is better; scores are roughly N(0, 1) on real data.

    >>> scorer = ImageRewardScorer(checkpoint="ImageReward.pt", med_config="med_config.json",
    ...                            tokenizer="bert-base-uncased/")  # doctest: +SKIP
    >>> scorer.score(images, prompts)  # doctest: +SKIP
    array([ 0.41, -1.2 , ...])
    """

    name = "image-reward"
    higher_is_better = True
    needs_references = False

    def __init__(self, checkpoint: str | None = None, med_config: str | None = None,
                 tokenizer: str | None = None, device: str | None = None, batch_size: int = 32,
                 dtype: str = "float32", workers: int = 4, vision_heads: int | None = None,
                 cache_dir: str | None = None, tf32: bool = False) -> None:
        if dtype not in ("float32", "float16", "bfloat16"):
            raise ScorerError(f"image-reward dtype={dtype!r}; choose float32, float16, bfloat16")
        if batch_size < 1 or workers < 1:
            raise ScorerError("image-reward batch_size and workers must be >= 1")
        self.options = dict(checkpoint=checkpoint, med_config=med_config, tokenizer=tokenizer,
                            vision_heads=vision_heads, cache_dir=cache_dir)
        self.device = resolve_device(device)
        self.batch_size, self.dtype, self.workers = batch_size, dtype, workers
        # TF32 float32 matmuls on Ampere and later GPUs: 2.3x the float32 throughput on an
        # H200, scores within 1.5e-3 of strict float32 (benchmarks/results/image-reward-*).
        # torch's switch is process-wide: it is on only while this scorer launches its kernels.
        self.tf32 = bool(tf32)
        self._token_cache: dict[str, tuple[Any, Any]] = {}

    def _load(self) -> Any:
        import torch

        model = load_image_reward(device=self.device, **self.options)
        if self.dtype != "float32":  # the reward MLP stays float32, as the package casts to it
            model.blip.to(getattr(torch, self.dtype))
        return model

    def score(self, images: Sequence[Image.Image], prompts: Sequence[str],
              references: Sequence[Image.Image] | None = None) -> np.ndarray:
        """One reward per image, for the prompt at the same position."""
        import torch

        check_images(self.name, images, prompts)
        ids, mask = self._tokens(prompts)
        rewards = []
        with torch.inference_mode(), self._matmul_precision():
            starts = range(0, len(images), self.batch_size)
            for start, pixels in zip(starts, self._pixel_batches(images), strict=True):
                rows = slice(start, start + len(pixels))
                rewards.append(self._forward(pixels, ids[rows], mask[rows]))
        return torch.cat(rewards).double().cpu().numpy()

    @contextlib.contextmanager
    def _matmul_precision(self) -> Iterator[None]:
        """TF32 matmuls for this scorer's kernels only (``tf32=True`` on CUDA); the previous
        process-wide setting is back afterwards, for other scorers and float32 pipelines."""
        import torch

        if not (self.tf32 and self.device.type == "cuda"):
            yield
            return
        saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
        try:
            yield
        finally:
            torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved

    def _tokens(self, prompts: Sequence[str]) -> tuple[Any, Any]:
        """Token ids and masks, every prompt padded to 35 tokens as the package does; each
        distinct prompt is tokenized once per scorer (a search scores the same prompts again
        and again)."""
        import torch

        new = sorted(set(prompts) - self._token_cache.keys())
        if new:
            text = self.model.blip.tokenizer(new, padding="max_length", truncation=True,
                                             max_length=MAX_PROMPT_TOKENS, return_tensors="pt")
            for i, prompt in enumerate(new):
                self._token_cache[prompt] = (text.input_ids[i], text.attention_mask[i])
        rows = [self._token_cache[p] for p in prompts]
        return torch.stack([r[0] for r in rows]), torch.stack([r[1] for r in rows])

    def _forward(self, pixels: Any, ids: Any, mask: Any) -> Any:
        """The package's ``ImageReward.score`` computation, on a batch."""
        import torch

        model, dev = self.model, self.device
        image_embeds = model.blip.visual_encoder(pixels.to(dev, getattr(torch, self.dtype)))
        image_atts = torch.ones(image_embeds.shape[:-1], dtype=torch.long, device=dev)
        out = model.blip.text_encoder(ids.to(dev), attention_mask=mask.to(dev),
                                      encoder_hidden_states=image_embeds,
                                      encoder_attention_mask=image_atts, return_dict=True)
        rewards = model.mlp(out.last_hidden_state[:, 0, :].float())
        return ((rewards - model.mean) / model.std)[:, 0]

    def _pixel_batches(self, images: Sequence[Image.Image]) -> Any:
        """Preprocessed batches, resized on threads two batches ahead of the device; the
        package's ToTensor + Normalize run per batch on the device (:mod:`ecad.scoring.pixels`)."""
        import torch

        size = self.batch_size
        split = SplitPreprocess.of(self.model.preprocess)
        preprocess = split.pixels if split is not None else self.model.preprocess

        def stack(items: list[Any]) -> Any:
            return split.batch(items, self.device) if split is not None else torch.stack(items)

        with ThreadPoolExecutor(self.workers) as pool:
            queued: deque[Any] = deque()
            submitted = 0
            for chunk_start, chunk in zip(range(0, len(images), size), batched(images, size),
                                          strict=True):
                ahead = min(len(images), chunk_start + 2 * size)
                for im in images[submitted:ahead]:
                    queued.append(pool.submit(preprocess, im))
                submitted = max(submitted, ahead)
                yield stack([queued.popleft().result() for _ in chunk])
