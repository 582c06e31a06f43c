"""Validate a spec's YAML mapping into a :class:`SearchSpec`, reporting every error at once.

Fields are checked in the order of the spec's sections; each reader records what is wrong and
returns a stand-in, so that one error does not hide the next.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ecad.cost.table import COST_MODES
from ecad.errors import ConfigError
from ecad.families import get_family
from ecad.families.loading import TINY_WEIGHTS
from ecad.search.preselection.config import parse_preselection
from ecad.search.pruning import parse_pruning
from ecad.search.spec.fields import _Errors, _int, _prob, _resolve_path, _section
from ecad.search.spec.parse_initial import _initial
from ecad.search.spec.parse_prompts import _prompts
from ecad.search.spec.resolved import SearchSpec
from ecad.search.spec.sections import MIN_DIFF_COUNTS, QUALITY_SCORERS, SEED_RULES, SPEC_VERSION
from ecad.search.spec_keys import SECTION_KEYS, quality_keys, unknown_keys
from ecad.search.validation import (
    MAX_PROMPT_PAIRS,
    MAX_SPEC_BYTES,
    check_name,
    check_weights,
    guidance_error,
    limit_error,
    name_from_file,
    num_blocks_error,
    prompt_length_error,
    resolve_local_weights,
)
from ecad.search.video_spec import VIDEO_KEYS, apply_video_fields

__all__ = ["parse_spec"]

_TOP_LEVEL = {
    "name",
    "family",
    "weights",
    "num_blocks",
    "resolution",
    "steps",
    "guidance",
    "guidance_2",
    "prompts",
    "images_per_prompt",
    "image_seed",
    "image_seed_rule",
    "quality",
    "cost",
    "population",
    "generations",
    "crossover",
    "mutation",
    "min_diff",
    "initial_population",
    "shard_size",
    "batch_size",
    "seed",
    "pruning",
    "preselection",
    *VIDEO_KEYS,
}


def parse_spec(raw: Any, source: str = "<spec>", base_dir: Path | None = None) -> SearchSpec:
    """Validate a parsed YAML mapping; raise one :class:`ConfigError` listing every problem."""
    base = base_dir or Path.cwd()
    errors = _Errors()
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{source}: a search spec must be a YAML mapping")
    errors.items += unknown_keys("", raw, _TOP_LEVEL)
    for section, known in SECTION_KEYS.items():
        if isinstance(raw.get(section), Mapping):
            errors.items += unknown_keys(f"{section}.", raw[section], known)

    family, d = _model(raw, errors, base, source)
    _images(raw, errors, base, family, d)
    d["quality"] = _quality(raw, errors)
    d["cost"] = _cost(raw, errors, base)
    _evolution(raw, errors, base, family, d)

    if not errors.items and (size := len(json.dumps(d))) > MAX_SPEC_BYTES:
        errors.add("prompts", f"the resolved spec is {size} bytes, the limit is {MAX_SPEC_BYTES} "
                   "(the prompt texts are stored in it): use fewer or shorter prompts")
    if len(errors.items) == 1:
        raise ConfigError(f"{source}: {errors.items[0]}")
    if errors.items:
        listing = "\n  ".join(errors.items)
        raise ConfigError(f"{source}: {len(errors.items)} error(s) in search spec:\n  {listing}")
    return SearchSpec.from_json({"version": SPEC_VERSION, **d}, source)


def _model(raw: Mapping, errors: _Errors, base: Path, source: str) -> tuple[Any, dict[str, Any]]:
    """``name``, ``family``, ``weights``, ``num_blocks``: the family (``None`` when unknown) and
    the resolved fields so far."""
    family = None
    try:
        family = get_family(str(raw.get("family", "")), base_dir=base)
    except ConfigError as exc:
        errors.add("family", str(exc))
    name = raw.get("name")
    if isinstance(name, int) and not isinstance(name, bool):
        name = str(name)  # `name: 2024` in YAML
    d: dict[str, Any] = {"name": name_from_file(source) if name is None else name}
    if (bad := check_name(d["name"])) is not None:
        errors.add("name", bad)
    d["family"] = family.name if family else raw.get("family")
    if family is not None and family.record is not None:
        d["family_record"] = family.record
    weights = raw.get("weights", family.default_weights if family else None)
    if not isinstance(weights, str) or not weights:
        errors.add("weights", f"must be a hub id, a local directory or 'tiny', got {weights!r}")
    elif weights == TINY_WEIGHTS and family is not None and family.derived:
        errors.add("weights", f"derived family {family.name} has no built-in tiny model; give "
                   "a pipeline directory (save_pretrained output) or a hub id")
    elif weights != TINY_WEIGHTS:
        local = resolve_local_weights(weights, base)
        if family and (bad := check_weights(family, weights, local)) is not None:
            errors.add("weights", bad)
        weights = weights if local is None else str(local)
    d["weights"] = weights
    num_blocks = raw.get("num_blocks")
    if num_blocks is not None and family and (bad := num_blocks_error(family, num_blocks)):
        errors.add("num_blocks", bad)
        num_blocks = None
    d["num_blocks"] = dict(num_blocks) if num_blocks else None
    return family, d


def _guidance_2(raw: Mapping, errors: _Errors, family: Any, d: dict[str, Any]) -> None:
    """``guidance_2``: the low-noise expert's guidance of a two-expert family (Wan 2.2's
    ``guidance_scale_2``); its default is the family's (the model card's)."""
    experts = len(family.experts) if family else 1
    if "guidance_2" in raw and experts < 2:
        errors.add("guidance_2", "only two-expert families (wan2.2-t2v-a14b) have a second "
                   "guidance; remove it or use guidance")
        return
    value = raw.get("guidance_2", family.default_guidance_2 if family else None)
    if value is None:
        return
    if (bad := guidance_error(value)) is not None:
        errors.add("guidance_2", bad)
        return
    d["guidance_2"] = float(value)


def _images(raw: Mapping, errors: _Errors, base: Path, family: Any, d: dict[str, Any]) -> None:
    """``resolution``, ``steps``, ``guidance``, ``prompts`` and the images' seeds, into ``d``."""
    d["resolution"] = _int(
        raw, "resolution", errors, family.default_resolution if family else 256, 1
    )
    if family and isinstance(d["resolution"], int):
        multiple = family.resolution_multiple()
        if d["resolution"] % multiple:
            errors.add(
                "resolution",
                f"{d['resolution']} is not divisible by {multiple} "
                f"(VAE factor {family.vae_scale_factor} x patch size {family.patch_size})",
            )
    errors.items += apply_video_fields(d, raw, family)  # frames, fps, width (video families)
    d["steps"] = _int(raw, "steps", errors, family.default_steps if family else 20, 2)
    guidance = raw.get("guidance", family.default_guidance if family else 4.5)
    if (bad := guidance_error(guidance)) is not None:
        errors.add("guidance", bad)
    d["guidance"] = float(guidance) if isinstance(guidance, (int, float)) else guidance
    _guidance_2(raw, errors, family, d)

    prompts = _section(raw, "prompts", errors, shorthand="file")
    d["prompts"] = _prompts(prompts, errors, base)
    if (bad := prompt_length_error(d["prompts"].get("texts"), family)) is not None:
        errors.add("prompts", bad)
    d["images_per_prompt"] = _int(raw, "images_per_prompt", errors, 1, 1)
    pairs = len(d["prompts"].get("texts", ())) * d["images_per_prompt"]
    if pairs > MAX_PROMPT_PAIRS and not limit_error("images_per_prompt", d["images_per_prompt"]):
        errors.add(
            "images_per_prompt",
            f"{len(d['prompts']['texts'])} prompts x {d['images_per_prompt']} images is {pairs} "
            f"images per candidate; the limit is {MAX_PROMPT_PAIRS} (use prompts.limit)",
        )
    d["image_seed"] = _int(raw, "image_seed", errors, 0, 0)
    d["image_seed_rule"] = raw.get("image_seed_rule", "ecad")
    if d["image_seed_rule"] not in SEED_RULES:
        errors.add(
            "image_seed_rule",
            f"{d['image_seed_rule']!r} unknown; choose 'ecad' (one generator per image) or "
            "'reference' (the reference's: image i's generator draws every prompt's latents)",
        )
        d["image_seed_rule"] = "ecad"
    d["seed"] = _int(raw, "seed", errors, 0, 0)


def _quality(raw: Mapping, errors: _Errors) -> dict[str, Any]:
    quality = _section(raw, "quality", errors, shorthand="scorer")
    errors.items += unknown_keys("quality.", quality, quality_keys(quality.get("scorer",
                                                                               "fidelity")))
    scorer = quality.pop("scorer", "fidelity")
    if scorer not in QUALITY_SCORERS:
        errors.add("quality.scorer", f"{scorer!r} unknown; choose one of {QUALITY_SCORERS}")
    if scorer == "fidelity":
        metric = quality.setdefault("metric", "ssim")
        if metric not in ("ssim", "psnr", "lpips"):
            errors.add("quality.metric", f"{metric!r} unknown; choose ssim, psnr or lpips")
    return {"scorer": scorer, **quality}


def _cost(raw: Mapping, errors: _Errors, base: Path) -> dict[str, Any]:
    cost = _section(raw, "cost", errors, shorthand="mode")
    mode = cost.get("mode", "macs")
    if mode not in COST_MODES:
        errors.add("cost.mode", f"{mode!r} unknown; choose one of {COST_MODES}")
    if mode == "latency":
        table = cost.get("table")
        if not isinstance(table, str) or not Path(_resolve_path(table, base)).is_file():
            errors.add("cost.table", f"latency cost needs a readable table file, got {table!r}")
        else:
            cost["table"] = _resolve_path(table, base)
    cost["batch"] = _int(cost, "batch", errors, 2, 1, where="cost.")
    if "text_tokens" in cost:  # the published PixArt-Σ costs were counted at α's 120 tokens
        cost["text_tokens"] = _int(cost, "text_tokens", errors, None, 1, where="cost.")
    return {"mode": mode, **cost}


def _evolution(raw: Mapping, errors: _Errors, base: Path, family: Any, d: dict[str, Any]) -> None:
    """NSGA-II's settings, the initial population, the shards, pruning and pre-selection, into
    ``d``."""
    d["population"] = _int(raw, "population", errors, 24, 2)
    d["generations"] = _int(raw, "generations", errors, 10, 0)
    crossover = _section(raw, "crossover", errors)
    d["crossover"] = {
        "points": _int(crossover, "points", errors, 4, 1, where="crossover."),
        "prob": _prob(crossover, "prob", errors, 0.9, "crossover."),
    }
    mutation = _section(raw, "mutation", errors)
    d["mutation"] = {
        "individual_prob": _prob(mutation, "individual_prob", errors, 1.0, "mutation."),
        "bit_prob": _prob(mutation, "bit_prob", errors, None, "mutation."),
    }
    d["min_diff"], d["min_diff_counts"] = _min_diff(raw.get("min_diff", 1), errors)
    d["initial_population"] = _initial(
        raw.get("initial_population", "random"), errors, base, family, d["steps"], d["num_blocks"]
    )
    d["shard_size"] = _int(raw, "shard_size", errors, 8, 1)
    d["batch_size"] = _int(raw, "batch_size", errors, 8, 1)
    pruning, pruning_errors = parse_pruning(raw.get("pruning"))
    for message in pruning_errors:
        errors.items.append(message)
    if pruning.enabled:
        d["pruning"] = pruning.to_json()
    population = d["population"] if isinstance(d.get("population"), int) else None
    preselection, preselection_errors = parse_preselection(raw.get("preselection"), population)
    errors.items += preselection_errors
    if preselection.enabled:
        d["preselection"] = preselection.to_json()


def _min_diff(value: Any, errors: _Errors) -> tuple[int, str]:
    """``min_diff: N`` (effective cells) or ``min_diff: {value: N, counts: genome|effective}``."""
    if isinstance(value, Mapping):
        unknown = sorted(set(value) - {"value", "counts"})
        if unknown:
            errors.add("min_diff", f"unknown key(s) {unknown}; use {{value: N, counts: C}}")
        counts = value.get("counts", "effective")
        if counts not in MIN_DIFF_COUNTS:
            errors.add(
                "min_diff.counts",
                f"{counts!r} unknown; choose 'effective' (reused cells after step 0) or "
                "'genome' (bits differing from all-true, step 0 included: the reference's rule)",
            )
            counts = "effective"
        return _int(value, "value", errors, 1, 0, where="min_diff."), counts
    return _int({"min_diff": value}, "min_diff", errors, 1, 0), "effective"
