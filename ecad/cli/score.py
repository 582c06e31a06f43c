"""``ecad score``: score a directory of generated images (or videos) and write a JSON report.

Videos (``pNNNNN_iNNN.mp4``, as ``ecad generate`` writes for a video family) are decoded and
every frame scored; a video's score is the mean over its frames (``ecad.scoring.video``)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from ecad.atomic import write_atomic
from ecad.cli.options import announce_device, device_option
from ecad.cli.progress import work_bar
from ecad.errors import ConfigError
from ecad.prompts import PROMPT_FORMATS, PromptSet, load_prompts
from ecad.scoring import SetScorer, get_scorer, scorer_names
from ecad.scoring.image_dir import GeneratedImageFile, list_generated_images, read_manifest
from ecad.scoring.report import score_report

CHUNK = 64  # images held in memory at once (and the progress bar's step)
VIDEO_CHUNK = 4  # videos decoded at once (81 frames at 832x480 are ~100 MB each)


def _parse_options(pairs: Sequence[str]) -> dict[str, Any]:
    """``KEY=VALUE`` -> keyword arguments; numbers and true/false are typed, the rest are text."""
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint="--option")
        try:
            parsed = json.loads(value)
        except ValueError:
            parsed = value
        scalar = isinstance(parsed, (bool, int, float)) and not isinstance(parsed, str)
        options[key.strip().replace("-", "_")] = parsed if scalar else value
    return options


def _prompts(images_dir: Path, prompts_file: Path | None, fmt: str | None) -> list[str]:
    manifest = read_manifest(images_dir) or {}
    listed = manifest.get("prompts")
    if prompts_file is None:
        if not isinstance(listed, list) or not listed:
            raise click.UsageError(f"give --prompts ({images_dir} has no manifest.json prompts)")
        return [str(p) for p in listed]
    prompts = list(load_prompts(prompts_file, fmt).prompts)
    if isinstance(listed, list) and listed and listed != prompts:
        raise ConfigError(f"{prompts_file} does not hold the prompts these images were generated "
                          f"from ({images_dir / 'manifest.json'}); pass the same prompt file, or "
                          "leave out --prompts to use the manifest's")
    return prompts


def _open(path: Path) -> Any:
    from PIL import Image

    with Image.open(path) as im:
        return im.convert("RGB")


def _references(files: Sequence[GeneratedImageFile], reference: Path) -> list[Path]:
    paths = [reference / f.path.name for f in files]
    missing = [p.name for p in paths if not p.is_file()]
    if missing:
        kind = "videos" if files[0].video else "images"
        raise ConfigError(f"{reference}: {len(missing)} reference {kind} missing, e.g. "
                          f"{missing[:3]}; --reference must hold the uncached {kind} under the "
                          "same file names")
    return paths


def _decode(path: Path) -> Any:
    from ecad.videofile import decode_video

    try:
        return decode_video(path.read_bytes())
    except Exception as exc:  # a truncated or foreign file: name it
        raise ConfigError(f"{path}: not a readable video ({exc}); regenerate it") from exc


def _score_chunks(scorer: Any, files: Sequence[GeneratedImageFile], prompts: Sequence[str],
                  refs: Sequence[Path] | None) -> list[float]:
    """Per-file scores: images a chunk at a time, or videos (each the mean over its frames)."""
    video = files[0].video
    step = VIDEO_CHUNK if video else CHUNK
    scores: list[float] = []
    with work_bar(len(files), f"scoring ({scorer.name})") as bar:
        for start in range(0, len(files), step):
            chunk = files[start:start + step]
            chunk_prompts = [prompts[f.prompt_index] for f in chunk]
            chunk_refs = refs[start:start + step] if refs else None
            if video:
                from ecad.scoring.video import score_videos

                videos = [_decode(f.path) for f in chunk]
                ref_videos = [_decode(p) for p in chunk_refs] if chunk_refs else None
                for f, v, p, r in zip(chunk, videos, chunk_refs or (), ref_videos or ()):
                    if v.shape != r.shape:
                        raise ConfigError(
                            f"{f.path}: {v.shape[0]} frames of {v.shape[2]}x{v.shape[1]}, but its "
                            f"reference {p} has {r.shape[0]} of {r.shape[2]}x{r.shape[1]}; "
                            "generate both with the same --frames, --resolution and --width")
                scores.extend(score_videos(scorer, videos, chunk_prompts, ref_videos))
            else:
                images = [_open(f.path) for f in chunk]
                ref_images = [_open(p) for p in chunk_refs] if chunk_refs else None
                scores.extend(scorer.score(images, chunk_prompts, references=ref_images))
            bar.update(len(chunk))
    return scores


@click.command()
@click.option("--scorer", "scorer_name", type=click.Choice(scorer_names()), required=True,
              help="image-reward, clip-score, fid, or fidelity: psnr/ssim/lpips.")
@click.option("--images", "images_dir", required=True,
              type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Directory of pNNNNN_iNNN.png images, or .mp4 videos (as `ecad generate` "
                   "writes).")
@click.option("--prompts", "prompts_file", default=None,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Prompt file the images were generated from (default: manifest.json's).")
@click.option("--prompt-format", type=click.Choice(PROMPT_FORMATS), default=None)
@click.option("--reference", default=None,
              type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="fid: the reference image set. psnr/ssim/lpips: the uncached images, same "
                   "file names.")
@click.option("-o", "--output", default=None, type=click.Path(dir_okay=False, path_type=Path),
              help="JSON report file (default: print it).")
@device_option
@click.option("--batch-size", type=int, default=None, help="Images per forward pass.")
@click.option("-O", "--option", "options", multiple=True, metavar="KEY=VALUE",
              help="Scorer option (repeatable): checkpoint=, med_config=, tokenizer= "
                   "(image-reward); model= (clip-score); weights=, feature= (fid); "
                   "lpips_backbone= (lpips).")
def score(scorer_name: str, images_dir: Path, prompts_file: Path | None,
          prompt_format: str | None, reference: Path | None, output: Path | None,
          device: str | None, batch_size: int | None, options: tuple[str, ...]) -> None:
    """Score generated images (or videos: the mean over each one's frames): the mean,
    per-prompt means and per-image scores, as JSON."""
    announce_device()
    files = list_generated_images(images_dir)
    prompts = _prompts(images_dir, prompts_file, prompt_format)
    beyond = [f.path.name for f in files if f.prompt_index >= len(prompts)]
    if beyond:
        raise ConfigError(f"{images_dir}: {beyond[0]} and {len(beyond) - 1} more refer to prompts "
                          f"past the {len(prompts)} of the prompt set; wrong --prompts?")
    opts = _parse_options(options)
    video = files[0].video
    if video and scorer_name == "fid":
        raise click.UsageError(f"{images_dir} holds videos: fid scores image sets; score videos "
                               "with psnr, ssim, lpips (per frame, against --reference), "
                               "clip-score or image-reward (per frame, with the prompt)")
    if scorer_name == "fid":
        if reference is None:
            raise click.UsageError("fid needs --reference DIR (the reference image set)")
        opts["reference"] = str(reference)
    scorer = get_scorer(scorer_name, device=device, batch_size=batch_size, **opts)
    context: dict[str, Any] = {
        "images_dir": str(images_dir),
        "prompt_file": str(prompts_file) if prompts_file else "manifest.json",
        "prompt_set_digest": PromptSet(tuple(prompts)).digest(),
        "reference": str(reference) if reference else None,
        "options": opts,
    }
    if video:  # what a video's score is, and what it was read from
        context["unit"] = ("video: the mean of its frames' scores, decoded from the MP4 files "
                           "as written (H.264 yuv420p: fidelity includes the codec's loss)")
    if isinstance(scorer, SetScorer):
        value = scorer.score_set([f.path for f in files])  # opened a batch at a time
        report = {"scorer": scorer.name, "higher_is_better": scorer.higher_is_better, **context,
                  "reference_key": scorer.reference_key, "count": len(files), "mean": value,
                  "per_prompt": None, "per_image": None}
    else:
        refs = None
        if scorer.needs_references:
            if reference is None:
                raise click.UsageError(f"{scorer_name} needs --reference DIR (uncached images)")
            refs = _references(files, reference)
        if scorer_name == "psnr":
            from ecad.scoring.fidelity import PSNR_CAP_DB

            context["psnr_cap_db"] = PSNR_CAP_DB  # identical pairs score the cap, not inf
        scores = _score_chunks(scorer, files, prompts, refs)
        report = score_report(scorer, files, prompts, scores, **context)
    text = json.dumps(report, indent=2)
    if output is None:
        click.echo(text)
        return
    write_atomic(output, text + "\n")
    kind = "videos" if video else "images"
    click.echo(f"{scorer.name}: mean {report['mean']} over {len(files)} {kind} -> {output}",
               err=True)
