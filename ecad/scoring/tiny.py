"""Random-weight scorer models of the real architectures, written to local files.

For tests, CI, CPU demos and GPU benchmarks: nothing is downloaded, and the files load through
the same code path as real weights (``checkpoint=``/``model=``/``weights=`` options). Each writer
returns the options to pass to :func:`ecad.scoring.get_scorer`.

Random models score every image almost the same, which would make "distinguishes different
images" tests pass or fail by luck; the writers re-initialise the parts that wash out
differences (ImageReward's reward head, the BERT cross-attention) at a larger scale.
"""

from __future__ import annotations

import json
import os
import string
from pathlib import Path
from typing import Any

__all__ = [
    "write_random_alexnet",
    "write_random_image_reward",
    "write_random_inception",
    "write_tiny_clip",
]

_BERT_SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
_WORDS = (
    "a", "an", "the", "of", "on", "in", "with", "and", "photo", "painting", "cat", "dog", "fox",
    "red", "blue", "green", "yellow", "black", "white", "two", "three", "house", "tree", "car",
    "sky", "sea", "snow", "sign", "text", "says", "cube", "sphere", "man", "woman",
)

# The real ImageReward text encoder (BLIP's med_config.json); bert-base-uncased has 30522 tokens.
_REAL_MED_CONFIG = {
    "architectures": ["BertModel"], "attention_probs_dropout_prob": 0.1, "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1, "hidden_size": 768, "initializer_range": 0.02,
    "intermediate_size": 3072, "layer_norm_eps": 1e-12, "max_position_embeddings": 512,
    "model_type": "bert", "num_attention_heads": 12, "num_hidden_layers": 12, "pad_token_id": 0,
    "type_vocab_size": 2, "vocab_size": 30524, "encoder_width": 1024, "add_cross_attention": True,
}
_TINY_MED_CONFIG = {**_REAL_MED_CONFIG, "hidden_size": 32, "intermediate_size": 64,
                    "num_attention_heads": 2, "num_hidden_layers": 1,
                    "max_position_embeddings": 40, "encoder_width": 64, "initializer_range": 0.2}


def _bert_vocabulary(size: int | None) -> list[str]:
    """Specials, characters, word pieces and a few words; padded with filler to ``size``."""
    chars = list(string.ascii_lowercase + string.digits + string.punctuation)
    vocab = list(dict.fromkeys([*_BERT_SPECIALS, *chars, *(f"##{c}" for c in chars), *_WORDS]))
    if size is not None:
        vocab += [f"tok{n}" for n in range(size - len(vocab))]
    return vocab


def write_random_image_reward(
    directory: str | os.PathLike, *, full_size: bool = False, seed: int = 0
) -> dict[str, str]:
    """Write ``ImageReward.pt``, ``med_config.json`` and ``tokenizer/`` with random weights.

    ``full_size=False``: a tiny BLIP (ViT 64 wide, 1 block, 32 px; BERT 32 wide, 1 layer).
    ``full_size=True``: the real sizes (ViT-L/16-224, BERT-base, 30524 tokens; ~1.8 GB file).
    """
    import torch

    from ecad.scoring.image_reward import VisionSpec, build_image_reward

    out = Path(directory)
    (out / "tokenizer").mkdir(parents=True, exist_ok=True)
    config = dict(_REAL_MED_CONFIG if full_size else _TINY_MED_CONFIG)
    vocab = _bert_vocabulary(config["vocab_size"] - 2 if full_size else None)
    config["vocab_size"] = len(vocab) + 2  # the BLIP tokenizer adds [DEC] and [ENC]
    (out / "tokenizer" / "vocab.txt").write_text("\n".join(vocab) + "\n")
    (out / "med_config.json").write_text(json.dumps(config, indent=2))
    vision = VisionSpec() if full_size else VisionSpec(32, 16, 64, 1, 1)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build_image_reward(out / "med_config.json", str(out / "tokenizer"), vision)
        _reinit_for_spread(model, full_size)
    torch.save(model.state_dict(), out / "ImageReward.pt")
    return {"checkpoint": str(out / "ImageReward.pt"), "med_config": str(out / "med_config.json"),
            "tokenizer": str(out / "tokenizer")}


def _reinit_for_spread(model: Any, full_size: bool) -> None:
    """Unit-gain reward head (the package's init shrinks outputs to a constant); in the tiny
    model, also cross-attention strong enough that the image moves the [CLS] token."""
    import torch

    with torch.no_grad():
        for name, param in model.mlp.named_parameters():
            if name.endswith("weight"):
                param.normal_(0.0, param.shape[1] ** -0.5)
        if not full_size:  # let the image reach the [CLS] token through cross-attention
            for name, param in model.blip.text_encoder.named_parameters():
                if "crossattention" in name and name.endswith("weight") and param.dim() == 2:
                    param.normal_(0.0, param.shape[1] ** -0.5)


def write_tiny_clip(directory: str | os.PathLike, *, seed: int = 0) -> dict[str, str]:
    """A tiny CLIP (transformers' ``CLIPModel`` and processor) saved with ``save_pretrained``."""
    import torch
    from transformers import (
        CLIPConfig,
        CLIPImageProcessor,
        CLIPModel,
        CLIPProcessor,
        CLIPTokenizer,
    )

    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    byte_chars = [*string.ascii_lowercase, *string.digits, *string.punctuation]
    vocab = ["<|startoftext|>", "<|endoftext|>", *byte_chars, *(f"{c}</w>" for c in byte_chars)]
    (out / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(vocab)}))
    (out / "merges.txt").write_text("#version: 0.2\n")
    tokenizer = CLIPTokenizer(str(out / "vocab.json"), str(out / "merges.txt"))
    images = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    config = CLIPConfig(
        text_config={"vocab_size": len(vocab), "hidden_size": 32, "intermediate_size": 64,
                     "num_hidden_layers": 1, "num_attention_heads": 2,
                     "max_position_embeddings": 77, "bos_token_id": 0, "eos_token_id": 1,
                     "pad_token_id": 1},
        vision_config={"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1,
                       "num_attention_heads": 2, "image_size": 32, "patch_size": 8},
        projection_dim=16,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        CLIPModel(config).save_pretrained(out)
    CLIPProcessor(image_processor=images, tokenizer=tokenizer).save_pretrained(out)
    return {"model": str(out)}


def write_random_inception(path: str | os.PathLike, *, seed: int = 0) -> dict[str, str]:
    """Random weights of FID's Inception-v3 (torch-fidelity's layout) as safetensors."""
    import torch
    from safetensors.torch import save_file

    from ecad.scoring.fid import build_inception

    with torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(seed)
        model = build_inception(None)
        for module in model.modules():  # He init keeps activations alive through ~90 convs
            if isinstance(module, torch.nn.Conv2d):
                torch.nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(path))
    return {"weights": str(path)}


def write_random_alexnet(path: str | os.PathLike, *, seed: int = 0) -> dict[str, str]:
    """Random torchvision AlexNet weights, the LPIPS backbone, as safetensors."""
    import torch
    import torchvision
    from safetensors.torch import save_file

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        state: dict[str, Any] = torchvision.models.alexnet(weights=None).state_dict()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    return {"lpips_backbone": str(path)}
