"""``ecad score``: score a directory of generated images and write a JSON report."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from ecad.atomic import write_atomic
from ecad.cli.options import announce_device, device_option
from ecad.errors import ConfigError
from ecad.prompts import PROMPT_FORMATS, PromptSet, load_prompts
from ecad.scoring import SetScorer, get_scorer, scorer_names
from ecad.scoring.image_dir import GeneratedImageFile, list_generated_images, read_manifest
from ecad.scoring.report import score_report

CHUNK = 256  # images held in memory at once


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
        raise ConfigError(f"{reference}: {len(missing)} reference images missing, e.g. "
                          f"{missing[:3]}; --reference must hold the uncached images under the "
                          "same file names")
    return paths


@click.command()
@click.option("--scorer", "scorer_name", type=click.Choice(scorer_names()), required=True,
              help="image-reward, clip-score, fid, or fidelity: psnr/ssim/lpips.")
@click.option("--images", "images_dir", required=True,
              type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Directory of pNNNNN_iNNN.png images (as `ecad generate` writes).")
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
    """Score generated images: the mean, per-prompt means and per-image scores, as JSON."""
    announce_device()
    files = list_generated_images(images_dir)
    prompts = _prompts(images_dir, prompts_file, prompt_format)
    beyond = [f.path.name for f in files if f.prompt_index >= len(prompts)]
    if beyond:
        raise ConfigError(f"{images_dir}: {beyond[0]} and {len(beyond) - 1} more refer to prompts "
                          f"past the {len(prompts)} of the prompt set; wrong --prompts?")
    opts = _parse_options(options)
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
        scores = []
        for start in range(0, len(files), CHUNK):
            chunk = files[start:start + CHUNK]
            images = [_open(f.path) for f in chunk]
            ref_images = [_open(p) for p in refs[start:start + CHUNK]] if refs else None
            scores.extend(scorer.score(images, [prompts[f.prompt_index] for f in chunk],
                                       references=ref_images))
        report = score_report(scorer, files, prompts, scores, **context)
    text = json.dumps(report, indent=2)
    if output is None:
        click.echo(text)
        return
    write_atomic(output, text + "\n")
    click.echo(f"{scorer.name}: mean {report['mean']} over {len(files)} images -> {output}",
               err=True)
