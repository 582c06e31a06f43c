"""Load a model and run it once, so that a worker reports ready only with working weights.

The warm-up loads the pipeline (from the hub cache or a local directory: no download happens
here unless the hub is reachable and ``HF_HUB_OFFLINE`` is unset), embeds one prompt and
generates one image in two steps at the model's resolution on the worker's device: the weights
are read and checked, CUDA and its kernels are initialised, and the files sit in the page cache
for the tasks that load them next.
"""

from __future__ import annotations

import logging
import time

from ecad.errors import ConfigError
from ecad.families.fetch import WeightsError, WeightsTarget

log = logging.getLogger(__name__)

__all__ = ["warm_up"]


def warm_up(target: WeightsTarget, device: str, dtype: str | None = None) -> float:
    """Load ``target`` on ``device``, generate one image, free it; return the seconds taken.
    A load failure raises :class:`WeightsError` naming the weights and the fix."""
    import torch

    from ecad.families.loading import load_pipeline
    from ecad.generation.generate import GenerationSettings, generate_images

    start = time.perf_counter()
    try:
        pipe = load_pipeline(target.family, target.weights, dtype=dtype, device=device)
    except (ConfigError, OSError) as exc:
        raise WeightsError(
            f"weights failure: {target} could not be loaded for the warm-up ({exc}). Fetch them "
            f"first: ecad weights fetch {target.source}") from exc
    family = target.family
    embeddings = _embeddings(pipe, target)
    settings = GenerationSettings(height=target.resolution, width=target.resolution, steps=2,
                                  guidance=family.default_guidance,
                                  guidance_2=family.default_guidance_2, batch_size=1,
                                  output_type="latent")
    for _ in generate_images(pipe, family, embeddings, settings):
        pass
    del pipe
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.empty_cache()
    seconds = time.perf_counter() - start
    log.info("warmed %s on %s in %.1fs", target, device, seconds)
    return seconds


def _embeddings(pipe, target: WeightsTarget):
    """One prompt through the text encoders; random embeddings of the right shape when the
    pipeline was saved without them (the benchmarks' full-size random-weight pipelines)."""
    from ecad.generation.embeddings import PromptEmbeddings, embed_prompts

    prompt = "a photograph of a lighthouse at dawn"
    if all(getattr(pipe, name, None) is not None
           for name in target.family.text_components):
        return embed_prompts(pipe, target.family, [prompt], weights=target.weights)
    from ecad.bench.fullsize import random_embeddings

    tensors = {k: v.cpu() for k, v in random_embeddings(pipe, target.family, 1).items()}
    return PromptEmbeddings(target.family.name, target.weights, (prompt,), tensors)
