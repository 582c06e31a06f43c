"""Batched, deterministic image generation from precomputed prompt embeddings."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from ecad.caching import ScheduleCacheConfig, apply_schedule, remove_schedule
from ecad.caching.compiled import check_mode
from ecad.errors import ConfigError, ScheduleMismatchError
from ecad.families import ModelFamily
from ecad.generation.adapters import adapter_for
from ecad.generation.embeddings import PromptEmbeddings
from ecad.generation.seeds import SEED_RULES, image_generator, image_seed, reference_generator
from ecad.schedules import Schedule

__all__ = [
    "GeneratedImage",
    "GenerationSettings",
    "generate_images",
    "image_filename",
    "pil_images",
]


@dataclass(frozen=True)
class GenerationSettings:
    """Sampling settings shared by every image of a run."""

    height: int
    width: int
    steps: int
    guidance: float
    seed: int = 0
    num_images_per_prompt: int = 1
    batch_size: int = 4
    output_type: str = "pil"
    seed_rule: str = "ecad"  # or "reference": see ecad.generation.seeds
    #: Video families: frames per video (4k + 1); 0 for images.
    frames: int = 0
    #: Two-expert families: the low-noise expert's guidance; ``None``: ``guidance`` for both.
    guidance_2: float | None = None

    def validate(self, family: ModelFamily) -> None:
        multiple = family.resolution_multiple()
        for name in ("height", "width"):
            value = getattr(self, name)
            if value <= 0 or value % multiple:
                raise ConfigError(
                    f"{name}={value} must be a positive multiple of {multiple} for {family.name} "
                    f"(VAE factor {family.vae_scale_factor} x patch {family.patch_size})"
                )
        for name in ("steps", "num_images_per_prompt", "batch_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if family.is_video and (self.frames < 1 or (self.frames - 1) % 4):
            raise ConfigError(f"frames={self.frames}: {family.name} makes videos of 4k + 1 "
                              "frames (33, 49, 81)")
        if self.seed_rule not in SEED_RULES:
            raise ConfigError(f"seed_rule {self.seed_rule!r} unknown; choose one of {SEED_RULES}")


@dataclass(frozen=True)
class GeneratedImage:
    prompt_index: int
    image_index: int
    seed: int
    #: PIL.Image.Image, or a tensor for latent / pt output; video families: uint8 RGB frames
    #: ``[frames, height, width, 3]`` (numpy).
    image: Any


def pil_images(batch: torch.Tensor) -> list[Any]:
    """diffusers' tensor -> PIL conversion (``(x * 255).round()`` as uint8, the same values),
    with the arithmetic on the tensor's device: the host gets uint8 pixels, 4x fewer bytes, and
    the GPU is not left idle while numpy converts a large float batch."""
    from PIL import Image

    pixels = (batch.float() * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    if pixels.shape[-1] == 1:
        return [Image.fromarray(p[..., 0], mode="L") for p in pixels]
    return [Image.fromarray(p) for p in pixels]


def video_frames(batch: torch.Tensor) -> list[Any]:
    """A pipeline's ``pt`` videos ``[B, F, C, H, W]`` in [0, 1] as uint8 ``[F, H, W, 3]``
    arrays, rounded as :func:`pil_images` rounds."""
    pixels = (batch.float() * 255).round().to(torch.uint8).permute(0, 1, 3, 4, 2).cpu().numpy()
    return list(pixels)


def image_filename(prompt_index: int, image_index: int) -> str:
    return f"p{prompt_index:05d}_i{image_index:03d}.png"


@torch.no_grad()
def generate_images(
    pipe: Any,
    family: ModelFamily,
    embeddings: PromptEmbeddings,
    settings: GenerationSettings,
    schedule: Schedule | None = None,
    pairs: Sequence[tuple[int, int]] | None = None,
    compile: str | None = None,
    compile_backend: str | None = "inductor",
    compile_scope: str = "transformer",
) -> Iterator[GeneratedImage]:
    """Generate the images of ``pairs`` (prompt index, image index), default all, in batches.

    The initial noise of each image comes from its own seed, so results do not depend on the
    batch size or order. ``schedule`` is applied for the run and removed afterwards.
    ``compile`` (a ``torch.compile`` mode) serves it compiled, once per step pattern
    (:mod:`ecad.caching.compiled`); without a schedule the plain transformer is compiled the
    same way. A last, smaller batch compiles its own graphs.
    """
    settings.validate(family)
    if schedule is not None and schedule.steps != settings.steps:
        raise ScheduleMismatchError(
            f"schedule {schedule.metadata.name!r} has {schedule.steps} steps but generation uses "
            f"{settings.steps}; pass --steps {schedule.steps} or another schedule"
        )
    if pairs is None:
        pairs = [
            (p, i) for p in range(len(embeddings)) for i in range(settings.num_images_per_prompt)
        ]
    bad = [p for p, _ in pairs if not 0 <= p < len(embeddings)]
    if bad:
        raise ConfigError(f"prompt index {bad[0]} out of range (0..{len(embeddings) - 1})")
    adapter = adapter_for(family)
    device = pipe._execution_device
    dtype = pipe.transformer.dtype
    transformer = pipe.transformer
    if schedule is not None:
        apply_schedule(pipe, ScheduleCacheConfig(schedule, compile=compile,
                                                 compile_backend=compile_backend,
                                                 compile_scope=compile_scope))
    elif compile is not None:
        check_mode(compile)
        options = {"mode": compile} if compile_backend == "inductor" else {}
        pipe.transformer = torch.compile(
            transformer, backend=compile_backend, fullgraph=True, dynamic=False, **options
        )
    pil = settings.output_type == "pil"
    video = {"num_frames": settings.frames} if family.is_video else {}
    noise_frames = {"frames": settings.frames} if family.is_video else {}
    if settings.seed_rule == "reference":  # one image's latent size, for skipping slices
        numel = adapter.latents(
            pipe, [torch.Generator()], settings.height, settings.width, **noise_frames
        ).numel()

        def generator(p: int, i: int) -> torch.Generator:
            return reference_generator(settings.seed, p, i, numel)
    else:

        def generator(p: int, i: int) -> torch.Generator:
            return image_generator(settings.seed, p, i)

    try:
        for start in range(0, len(pairs), settings.batch_size):
            batch = list(pairs[start : start + settings.batch_size])
            gens = [generator(p, i) for p, i in batch]
            noise = adapter.noise_kwargs(
                pipe, gens, settings.height, settings.width, device, dtype, **noise_frames
            )
            result = pipe(
                **adapter.call_kwargs(embeddings.rows([p for p, _ in batch], device, dtype)),
                **adapter.call_options(pipe),
                **noise,
                num_inference_steps=settings.steps,
                **adapter.guidance_kwargs(settings.guidance, settings.guidance_2),
                height=settings.height,
                width=settings.width,
                **({"num_videos_per_prompt": 1} if video else {"num_images_per_prompt": 1}),
                **video,
                output_type="pt" if pil else settings.output_type,
            )
            if video:
                images = video_frames(result.frames) if pil else result.frames
            else:
                images = pil_images(result.images) if pil else result.images
            for (p, i), image in zip(batch, images):
                reference = settings.seed_rule == "reference"
                seed = settings.seed + i if reference else image_seed(settings.seed, p, i)
                yield GeneratedImage(p, i, seed, image)
    finally:
        pipe.transformer = transformer
        if schedule is not None:
            remove_schedule(pipe)
