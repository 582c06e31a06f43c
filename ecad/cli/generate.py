"""``ecad embed`` and ``ecad generate``: embed prompts once, then generate with a schedule."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ecad.atomic import write_atomic
from ecad.cli.options import (
    announce_device,
    backend_of,
    compile_options,
    device_option,
    dtype_option,
    family_option,
    weights_option,
)
from ecad.cli.progress import work_bar
from ecad.errors import ConfigError
from ecad.families import ModelFamily, get_family
from ecad.prompts import load_prompts
from ecad.schedules import read_schedule

if TYPE_CHECKING:
    from ecad.generation import PromptEmbeddings


def _prompts(prompt: tuple[str, ...], prompt_file: Path | None, fmt: str | None) -> list[str]:
    if prompt and prompt_file:
        raise click.UsageError("give --prompt or --prompt-file, not both")
    if prompt_file:
        return list(load_prompts(prompt_file, fmt).prompts)
    if not prompt:
        raise click.UsageError("give --prompt (repeatable) or --prompt-file")
    return list(prompt)


def _embed(
    family: ModelFamily, weights: str | None, prompts: list[str], device: str, dtype: str | None
) -> PromptEmbeddings:
    from ecad.families.loading import load_pipeline
    from ecad.generation import embed_prompts

    encoder = load_pipeline(family, weights, device=device, dtype=dtype, denoiser=False)
    with work_bar(len(prompts), "embedding", unit="prompts") as bar:
        emb = embed_prompts(encoder, family, prompts, weights or family.default_weights,
                            on_batch=bar.update)
    del encoder  # the text encoders are needed once; free them before the denoiser loads
    return emb


prompt_options = [
    click.option("--prompt", multiple=True, help="A prompt (repeatable)."),
    click.option(
        "--prompt-file",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        default=None,
        help="Prompt file: .txt (one a line), .json, .tsv (Prompt).",
    ),
    click.option("--prompt-format", type=click.Choice(["text", "json", "tsv"]), default=None),
]


def _with(options):
    def deco(f):
        for opt in reversed(options):
            f = opt(f)
        return f

    return deco


@click.command()
@family_option
@weights_option
@_with(prompt_options)
@device_option
@dtype_option
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Embeddings file (.safetensors).",
)
def embed(
    family_name: str,
    weights: str | None,
    prompt: tuple[str, ...],
    prompt_file: Path | None,
    prompt_format: str | None,
    device: str,
    dtype: str | None,
    output: Path,
) -> None:
    """Embed prompts once with the family's text encoders and save them as safetensors."""
    announce_device()
    family = get_family(family_name)
    emb = _embed(family, weights, _prompts(prompt, prompt_file, prompt_format), device, dtype)
    emb.save(output)
    click.echo(f"wrote embeddings of {len(emb)} prompts to {output}")


@click.command()
@family_option
@weights_option
@click.option(
    "--schedule",
    "schedule_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Schedule JSON (default: no caching).",
)
@_with(prompt_options)
@click.option(
    "--embeddings",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Precomputed embeddings from `ecad embed`.",
)
@click.option("--num-images-per-prompt", type=int, default=1, show_default=True)
@click.option("--batch-size", type=int, default=4, show_default=True)
@click.option("--steps", type=int, default=None, help="Default: the schedule's, else family's.")
@click.option("--guidance", type=float, default=None, help="Default: the family's.")
@click.option("--guidance-2", "guidance_2", type=float, default=None,
              help="Two-expert families (Wan 2.2): the low-noise expert's guidance. Default: "
                   "the family's (the model card's).")
@click.option("--resolution", type=int, default=None, help="Square size (family default).")
@click.option("--height", type=int, default=None)
@click.option("--width", type=int, default=None)
@click.option("--frames", type=int, default=None, help="Video families: frames (4k + 1).")
@click.option("--fps", type=int, default=None, help="Video families: frames per second.")
@click.option("--seed", type=int, default=0, show_default=True)
@device_option
@dtype_option
@click.option("--output-dir", type=click.Path(file_okay=False, path_type=Path), required=True)
@compile_options
def generate(
    family_name: str,
    weights: str | None,
    schedule_file: Path | None,
    prompt: tuple[str, ...],
    prompt_file: Path | None,
    prompt_format: str | None,
    embeddings: Path | None,
    num_images_per_prompt: int,
    batch_size: int,
    steps: int | None,
    guidance: float | None,
    guidance_2: float | None,
    resolution: int | None,
    height: int | None,
    width: int | None,
    frames: int | None,
    fps: int | None,
    seed: int,
    device: str,
    dtype: str | None,
    output_dir: Path,
    compile_mode: str | None,
    compile_backend: str,
    compile_scope: str,
) -> None:
    """Generate images with a cached pipeline and write them as PNG files (video families:
    MP4 files, H.264, playable anywhere; --resolution is then the height).

    --compile MODE serves the schedule compiled: one graph per step pattern (CUDA graphs in the
    reduce-overhead and max-autotune modes); the first batch pays the compilation.
    """
    announce_device()
    family = get_family(family_name)
    sched = read_schedule(schedule_file, family=family) if schedule_file else None
    steps = steps or (sched.steps if sched else family.default_steps)
    size = resolution or family.default_resolution
    from ecad.families.loading import load_pipeline
    from ecad.generation import GenerationSettings, PromptEmbeddings, generate_images, save_images

    if guidance_2 is not None and len(family.experts) < 2:
        raise click.UsageError(f"--guidance-2 is for two-expert families (wan2.2-t2v-a14b); "
                               f"{family.name} runs one transformer: use --guidance")
    if not family.is_video and (frames or fps):
        raise click.UsageError(f"--frames and --fps are for video families; {family.name} "
                               "makes images")
    settings = GenerationSettings(
        height=height or size,
        width=width or (family.width_for(height or size) if family.is_video else size),
        frames=(frames or family.default_frames) if family.is_video else 0,
        steps=steps,
        guidance=family.default_guidance if guidance is None else guidance,
        guidance_2=family.default_guidance_2 if guidance_2 is None else guidance_2,
        seed=seed,
        num_images_per_prompt=num_images_per_prompt,
        batch_size=batch_size,
    )
    settings.validate(family)
    if embeddings is not None:
        if prompt or prompt_file:
            raise click.UsageError("give prompts or --embeddings, not both")
        emb = PromptEmbeddings.load(embeddings, family)
    else:
        emb = _embed(family, weights, _prompts(prompt, prompt_file, prompt_format), device, dtype)
    pipe = load_pipeline(family, weights, device=device, dtype=dtype, text_encoders=False)
    output_dir.mkdir(parents=True, exist_ok=True)
    total = len(emb) * num_images_per_prompt
    with work_bar(total, "generating") as bar:
        images = generate_images(pipe, family, emb, settings, sched, compile=compile_mode,
                                 compile_backend=backend_of(compile_backend),
                                 compile_scope=compile_scope)
        written = save_images(images, output_dir, on_saved=lambda _: bar.update(1),
                              fps=fps or family.default_fps or 16)
    manifest = {
        "family": family.name,
        "weights": weights or family.default_weights,
        "schedule": sched.metadata.name if sched else "no-cache",
        "schedule_digest": sched.digest() if sched else None,
        "settings": {**settings.__dict__, **({"fps": fps or family.default_fps}
                                             if family.is_video else {})},
        "prompts": list(emb.prompts),
        "images": written,
    }
    if not written:
        raise ConfigError("no images generated")
    write_atomic(output_dir / "manifest.json", json.dumps(manifest, indent=2))
    what = "videos" if family.is_video else "images"
    click.echo(f"wrote {len(written)} {what} to {output_dir}")
