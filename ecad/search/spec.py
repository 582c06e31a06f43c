"""The search spec (YAML): what to search, how, and how to judge candidates.

``load_spec`` validates every field and reports *all* errors at once, each naming its field.
The resolved spec (defaults filled in) is a frozen :class:`SearchSpec` of typed sections; its
JSON form (``to_json``/``from_json``, versioned) is what the store keeps, and its digest
identifies the search.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from ecad.cost.table import COST_MODES
from ecad.errors import ConfigError
from ecad.families import get_family
from ecad.families.loading import TINY_WEIGHTS
from ecad.schedules.catalog import HeuristicCall
from ecad.schedules.paper import PAPER_SEEDS
from ecad.search.preselection.config import PreselectionConfig, parse_preselection
from ecad.search.pruning import PruningConfig, parse_pruning
from ecad.search.spec_keys import SECTION_KEYS, quality_keys, unknown_keys
from ecad.search.validation import (
    LIMITS,
    MAX_PROMPT_FILE_BYTES,
    MAX_PROMPT_PAIRS,
    MAX_SPEC_BYTES,
    check_name,
    check_search_id,
    check_weights,
    guidance_error,
    heuristic_item_error,
    limit_error,
    name_from_file,
    num_blocks_error,
    prompt_length_error,
    resolve_local_weights,
)
from ecad.store.records import RecordError, check_version, require
from ecad.yamlfile import load_yaml, read_yaml

__all__ = [
    "COST_MODES",
    "MIN_DIFF_COUNTS",
    "QUALITY_SCORERS",
    "SPEC_VERSION",
    "CostSpec",
    "CrossoverSpec",
    "InitialPopulationSpec",
    "MutationSpec",
    "PromptsSpec",
    "QualitySpec",
    "SearchSpec",
    "load_spec",
    "parse_spec",
]

QUALITY_SCORERS = ("fidelity", "image-reward", "clip")
#: What ``min_diff`` counts: ``effective`` reused cells (step 0 excluded: it is always computed),
#: or ``genome`` bits that differ from all-true, step-0 bits included (the reference's rule).
MIN_DIFF_COUNTS = ("effective", "genome")
#: Per-image noise: ``ecad`` (a generator per image) or ``reference`` (the reference's rule):
#: :data:`ecad.generation.seeds.SEED_RULES`, repeated here because that module imports torch.
SEED_RULES = ("ecad", "reference")
_INITIAL_KINDS = ("random", "heuristics", "schedules_dir", "from_search", "paper")
_TOP_LEVEL = {
    "name",
    "family",
    "weights",
    "num_blocks",
    "resolution",
    "steps",
    "guidance",
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
}


#: 2: the digest hashes the prompts' content, never the prompt file's path (version 1 did, so
#: one spec got another id on every machine); stored version-1 specs keep their ids.
SPEC_VERSION = 2
#: What a shipped spec puts where the user must fill in a value (see ``_placeholder_error``).
PLACEHOLDER = "REPLACE_WITH_ID"


def _frozen(mapping: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping or {}))


def _with_set(base: dict[str, Any], **optional: Any) -> dict[str, Any]:
    """``base`` plus the optional fields that are set (None ones are left out)."""
    return {**base, **{k: v for k, v in optional.items() if v is not None}}


@dataclass(frozen=True)
class PromptsSpec:
    """``prompts``: the file they came from, the limit, the prompt texts themselves and, for a
    named set (:mod:`ecad.prompts.named`), its name."""

    file: str | None
    limit: int | None
    texts: tuple[str, ...]
    named: str | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PromptsSpec:
        texts = require(data, "texts", list, "prompts.")
        if not all(isinstance(t, str) for t in texts):
            raise RecordError("prompts.texts: must be a list of strings")
        return cls(data.get("file"), data.get("limit"), tuple(texts), data.get("set"))

    def to_json(self) -> dict[str, Any]:
        out = {"file": self.file, "limit": self.limit, "texts": list(self.texts)}
        if self.named is not None:  # only for named sets: earlier specs keep their digests
            out["set"] = self.named
        return out


@dataclass(frozen=True)
class QualitySpec:
    """``quality``: the scorer, its metric (fidelity), the HV reference and scorer options."""

    scorer: str
    metric: str | None = None
    hv_reference: float | None = None
    options: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> QualitySpec:
        rest = {k: v for k, v in data.items() if k not in ("scorer", "metric", "hv_reference")}
        return cls(
            require(data, "scorer", str, "quality."),
            data.get("metric"),
            data.get("hv_reference"),
            _frozen(rest),
        )

    @property
    def name(self) -> str:
        """The quality's name: the fidelity metric, else the scorer."""
        return self.metric or self.scorer

    def to_json(self) -> dict[str, Any]:
        base = {"scorer": self.scorer, **self.options}
        return _with_set(base, metric=self.metric, hv_reference=self.hv_reference)


@dataclass(frozen=True)
class CostSpec:
    """``cost``: the cost mode, the batch the cost is measured at, the latency table file."""

    mode: str
    batch: int
    table: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CostSpec:
        rest = {k: v for k, v in data.items() if k not in ("mode", "batch", "table")}
        return cls(
            require(data, "mode", str, "cost."),
            require(data, "batch", int, "cost."),
            data.get("table"),
            _frozen(rest),
        )

    def to_json(self) -> dict[str, Any]:
        return _with_set({"mode": self.mode, "batch": self.batch, **self.options}, table=self.table)


@dataclass(frozen=True)
class CrossoverSpec:
    points: int
    prob: float

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CrossoverSpec:
        return cls(
            require(data, "points", int, "crossover."),
            float(require(data, "prob", (int, float), "crossover.")),
        )

    def to_json(self) -> dict[str, Any]:
        return {"points": self.points, "prob": self.prob}


@dataclass(frozen=True)
class MutationSpec:
    individual_prob: float
    bit_prob: float | None  # None: 1 / genome bits

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> MutationSpec:
        bit = data.get("bit_prob")
        return cls(
            float(require(data, "individual_prob", (int, float), "mutation.")),
            None if bit is None else float(bit),
        )

    def to_json(self) -> dict[str, Any]:
        return {"individual_prob": self.individual_prob, "bit_prob": self.bit_prob}


def _span(value: Any) -> tuple[int, int] | None:
    """``[first, last]`` generations with ``0 <= first <= last``, or ``None`` when malformed."""
    if (
        isinstance(value, (list, tuple))
        and len(value) == 2
        and all(isinstance(g, int) and not isinstance(g, bool) for g in value)
        and 0 <= value[0] <= value[1]
    ):
        return int(value[0]), int(value[1])
    return None


def _generation_range(value: Any) -> tuple[int, int] | None:
    """A stored spec's ``generations`` (absent: ``None``)."""
    if value is None:
        return None
    span = _span(value)
    if span is None:
        raise RecordError(f"initial_population.generations: must be [first, last], got {value!r}")
    return span


@dataclass(frozen=True)
class InitialPopulationSpec:
    """``initial_population``: ``random``, heuristics, a schedules directory, another search's
    front, or ``paper`` (the paper's published seed population for the family).

    ``truncate``: keep the first ``population`` distinct seeds when there are more; without it,
    more distinct seeds than ``population`` is an error (never a silent drop).
    ``generations`` (``from_search`` only): ``(first, last)``, seed from the union of that
    search's fronts in those generations (inclusive) instead of its latest front.
    """

    kind: str
    items: tuple[str, ...] = ()
    path: str | None = None
    search_id: str | None = None
    truncate: bool = False
    generations: tuple[int, int] | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> InitialPopulationSpec:
        kind = require(data, "kind", str, "initial_population.")
        if kind not in _INITIAL_KINDS:
            raise RecordError(f"initial_population.kind: unknown kind {kind!r}")
        return cls(
            kind,
            tuple(data.get("items", ())),
            data.get("path"),
            data.get("search_id"),
            bool(data.get("truncate", False)),
            _generation_range(data.get("generations")),
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind}
        if self.kind == "heuristics":
            out["items"] = list(self.items)
        elif self.kind == "schedules_dir":
            out["path"] = self.path
        elif self.kind == "from_search":
            out["search_id"] = self.search_id
            if self.generations is not None:  # only when set, as truncate
                out["generations"] = list(self.generations)
        if self.truncate:  # only when set: earlier specs keep their digests
            out["truncate"] = True
        return out


@dataclass(frozen=True)
class SearchSpec:
    """A validated, fully resolved search spec: typed, frozen sections.

    ``to_json`` gives the plain-JSON form stored as ``spec.json`` (with a ``version``);
    ``from_json`` reads it back. The digest covers everything that changes results.
    """

    name: str
    family: str
    weights: str
    num_blocks: Mapping[str, int] | None
    resolution: int
    steps: int
    guidance: float
    prompts: PromptsSpec
    images_per_prompt: int
    image_seed: int
    seed: int
    quality: QualitySpec
    cost: CostSpec
    population: int
    generations: int
    crossover: CrossoverSpec
    mutation: MutationSpec
    min_diff: int
    initial_population: InitialPopulationSpec
    shard_size: int
    batch_size: int
    min_diff_counts: str = "effective"
    image_seed_rule: str = "ecad"
    #: Off unless the spec enables it; only an enabled section enters the JSON and the digest,
    #: so the ids of searches without pruning are unchanged.
    pruning: PruningConfig = field(default_factory=PruningConfig)
    #: Off unless enabled, and in the JSON and digest only then (issue 28).
    preselection: PreselectionConfig = field(default_factory=PreselectionConfig)
    #: A derived family's record (``family: ./families/x.yaml``): it travels with the spec, so
    #: a worker or scheduler knows the family, and its content (never its path) is digested.
    family_record: Mapping[str, Any] | None = None
    source: str = field(default="", compare=False)
    #: The format version it was read in; it decides the id's form (see SPEC_VERSION).
    version: int = field(default=SPEC_VERSION, compare=False)

    @classmethod
    def from_json(cls, data: Any, source: str = "") -> SearchSpec:
        """The spec from its resolved JSON form; :class:`RecordError` for a wrong shape."""
        if not isinstance(data, Mapping):
            raise RecordError(f"a spec must be a JSON object, got {type(data).__name__}")
        version = check_version(data, SPEC_VERSION, "spec")
        num_blocks = data.get("num_blocks")
        if num_blocks is not None and not isinstance(num_blocks, Mapping):
            raise RecordError("num_blocks: must be an object of block counts or null")

        def section(name: str) -> Mapping[str, Any]:
            return require(data, name, Mapping)

        _check_stored_limits(data)
        family = require(data, "family", str)
        record = _stored_family(family, data.get("family_record"))
        return cls(
            name=require(data, "name", str),
            family=family,
            weights=require(data, "weights", str),
            num_blocks=_frozen(num_blocks) if num_blocks else None,
            resolution=require(data, "resolution", int),
            steps=require(data, "steps", int),
            guidance=float(require(data, "guidance", (int, float))),
            prompts=PromptsSpec.from_json(section("prompts")),
            images_per_prompt=require(data, "images_per_prompt", int),
            image_seed=require(data, "image_seed", int),
            seed=require(data, "seed", int),
            quality=QualitySpec.from_json(section("quality")),
            cost=CostSpec.from_json(section("cost")),
            population=require(data, "population", int),
            generations=require(data, "generations", int),
            crossover=CrossoverSpec.from_json(section("crossover")),
            mutation=MutationSpec.from_json(section("mutation")),
            min_diff=require(data, "min_diff", int),
            initial_population=InitialPopulationSpec.from_json(section("initial_population")),
            shard_size=require(data, "shard_size", int),
            batch_size=require(data, "batch_size", int),
            min_diff_counts=_min_diff_counts(data.get("min_diff_counts", "effective")),
            image_seed_rule=_seed_rule(data.get("image_seed_rule", "ecad")),
            pruning=_pruning_json(data.get("pruning")),
            preselection=_section_json(parse_preselection(data.get("preselection"))),
            family_record=record,
            source=source,
            version=version,
        )

    def _payload(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "family": self.family,
            "weights": self.weights,
            "num_blocks": dict(self.num_blocks) if self.num_blocks else None,
            "resolution": self.resolution,
            "steps": self.steps,
            "guidance": self.guidance,
            "prompts": self.prompts.to_json(),
            "images_per_prompt": self.images_per_prompt,
            "image_seed": self.image_seed,
            "seed": self.seed,
            "quality": self.quality.to_json(),
            "cost": self.cost.to_json(),
            "population": self.population,
            "generations": self.generations,
            "crossover": self.crossover.to_json(),
            "mutation": self.mutation.to_json(),
            "min_diff": self.min_diff,
            "initial_population": self.initial_population.to_json(),
            "shard_size": self.shard_size,
            "batch_size": self.batch_size,
            # only when not the default: earlier specs keep their digests
            **(
                {"min_diff_counts": self.min_diff_counts}
                if self.min_diff_counts != "effective"
                else {}
            ),
            **({"image_seed_rule": self.image_seed_rule} if self.image_seed_rule != "ecad" else {}),
            **({"pruning": self.pruning.to_json()} if self.pruning.enabled else {}),
            **(
                {"preselection": self.preselection.to_json()}
                if self.preselection.enabled
                else {}
            ),
            **({"family_record": dict(self.family_record)} if self.family_record else {}),
        }

    def digest(self) -> str:
        """Digest of everything that changes results (the name, source and version do not):
        the prompts by their texts (and a named set's name), never by the file they came
        from, so a spec gets the same id wherever ecad and the prompt file are installed."""
        return self._digest(self.version)

    def _digest(self, version: int) -> str:
        payload = {k: v for k, v in self._payload().items() if k != "name"}
        if version >= 2:
            payload["prompts"] = {k: v for k, v in payload["prompts"].items() if k != "file"}
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()

    def search_id(self) -> str:
        return f"{self.name}-{self.digest()[:10]}"

    def legacy_search_id(self) -> str | None:
        """The id version 1 gave this spec (the prompt file's path was in its digest), where it
        differs: a search stored under it is the same search (:meth:`SearchSession.create`)."""
        legacy = f"{self.name}-{self._digest(1)[:10]}"
        return legacy if legacy != self.search_id() else None

    def to_json(self) -> dict[str, Any]:
        return {"version": self.version, **self._payload()}


def _stored_family(family: str, record: Any) -> Mapping[str, Any] | None:
    """Register a stored spec's derived family; its record must be the one its id names."""
    if record is None:
        return None
    from ecad.errors import FamilyError
    from ecad.families import register_family
    from ecad.families.record import family_from_record

    try:
        derived = family_from_record(record, "family_record")
    except FamilyError as exc:
        raise RecordError(str(exc)) from exc
    if derived.name != family:
        raise RecordError(f"family_record: the record is {derived.name}, the spec names {family}")
    register_family(derived)
    return _frozen(derived.record)


def _pruning_json(data: Any) -> PruningConfig:
    if data is None:
        return PruningConfig()
    return _section_json(parse_pruning(data))


def _section_json(parsed: tuple[Any, list[str]]) -> Any:
    config, errors = parsed
    if errors:
        raise RecordError("; ".join(errors))
    return config


class _Errors:
    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, field_name: str, message: str) -> None:
        self.items.append(f"{field_name}: {message}")


def _int(
    raw: Mapping,
    key: str,
    errors: _Errors,
    default: Any,
    minimum: int | None = None,
    where: str = "",
) -> Any:
    value = raw.get(key, default)
    name = f"{where}{key}"
    if isinstance(value, bool) or not isinstance(value, int):
        errors.add(name, f"must be an integer, got {value!r}")
        return default
    if minimum is not None and value < minimum:
        errors.add(name, f"must be >= {minimum}, got {value}")
    elif (too_big := limit_error(name, value)) is not None:
        errors.add(name, too_big)
    return value


def _prob(raw: Mapping, key: str, errors: _Errors, default: Any, where: str) -> Any:
    value = raw.get(key, default)
    if value is None and default is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        errors.add(f"{where}{key}", f"must be a probability in [0, 1], got {value!r}")
        return default
    return float(value)


def _section(raw: Mapping, key: str, errors: _Errors, shorthand: str | None = None) -> dict:
    value = raw.get(key, {})
    if isinstance(value, str) and shorthand:
        return {shorthand: value}
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        errors.add(key, f"must be a mapping, got {type(value).__name__}")
        return {}
    return dict(value)


def _resolve_path(value: str, base: Path) -> str:
    p = Path(os.path.expanduser(value))
    return str(p if p.is_absolute() else (base / p).resolve())


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
    d["steps"] = _int(raw, "steps", errors, family.default_steps if family else 20, 2)
    guidance = raw.get("guidance", family.default_guidance if family else 4.5)
    if (bad := guidance_error(guidance)) is not None:
        errors.add("guidance", bad)
    d["guidance"] = float(guidance) if isinstance(guidance, (int, float)) else guidance

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
    d["quality"] = {"scorer": scorer, **quality}

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
    d["cost"] = {"mode": mode, **cost}

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
    preselection, preselection_errors = parse_preselection(
        raw.get("preselection"), d["population"] if isinstance(d.get("population"), int) else None
    )
    errors.items += preselection_errors
    if preselection.enabled:
        d["preselection"] = preselection.to_json()

    if not errors.items and (size := len(json.dumps(d))) > MAX_SPEC_BYTES:
        errors.add("prompts", f"the resolved spec is {size} bytes, the limit is {MAX_SPEC_BYTES} "
                   "(the prompt texts are stored in it): use fewer or shorter prompts")
    if len(errors.items) == 1:
        raise ConfigError(f"{source}: {errors.items[0]}")
    if errors.items:
        listing = "\n  ".join(errors.items)
        raise ConfigError(f"{source}: {len(errors.items)} error(s) in search spec:\n  {listing}")
    return SearchSpec.from_json({"version": SPEC_VERSION, **d}, source)


def _prompts(section: dict, errors: _Errors, base: Path) -> dict[str, Any]:
    from ecad.prompts import load_prompts
    from ecad.resources import resolve_prompt_file

    path = section.get("file")
    limit = section.get("limit")
    if limit is not None:
        limit = _int(section, "limit", errors, None, 1, where="prompts.")
    if "set" in section:
        return _named_prompts(section, limit, errors, base)
    if not isinstance(path, str):
        errors.add("prompts.file", f"must be a prompt file path, got {path!r}")
        return {"file": path, "limit": limit}
    resolved = resolve_prompt_file(path, base)  # a file, or a shipped set (calibration-100)
    if not Path(resolved).exists():
        from ecad.resources import shipped

        where = "" if Path(os.path.expanduser(path)).is_absolute() else (
            f" (a relative path is read from the spec's directory, {base})")
        errors.add("prompts.file", f"{path!r}: no such file{where}; give a prompt file or a "
                   f"shipped prompt set's name: {', '.join(shipped('prompts'))}")
        return {"file": resolved, "limit": limit}
    if Path(resolved).is_file() and Path(resolved).stat().st_size > MAX_PROMPT_FILE_BYTES:
        errors.add("prompts.file", f"{resolved} is larger than {MAX_PROMPT_FILE_BYTES} bytes")
        return {"file": resolved, "limit": limit}
    if Path(resolved).exists() and not Path(resolved).is_file():
        errors.add("prompts.file", f"{resolved} is not a regular file")
        return {"file": resolved, "limit": limit}
    try:
        prompt_set = load_prompts(resolved, section.get("format"))
    except ConfigError as exc:
        errors.add("prompts.file", str(exc))
        return {"file": resolved, "limit": limit}
    prompts = list(prompt_set.prompts)[:limit] if limit else list(prompt_set.prompts)
    # The prompts themselves go into the resolved spec: the search no longer depends on the file.
    return {"file": resolved, "limit": limit, "texts": prompts}


def _named_prompts(section: dict, limit: int | None, errors: _Errors, base: Path) -> dict:
    """``prompts: {set: NAME, file: PATH}``: a named, digest-pinned set (file optional: the
    set's environment variable names it otherwise)."""
    from ecad.prompts.named import load_named_prompts

    name, path = section["set"], section.get("file")
    unknown = sorted(set(section) - {"set", "file", "limit"})
    if unknown:
        errors.add("prompts", f"unknown key(s) {unknown} beside 'set'; allowed: file, limit")
    resolved = _resolve_path(path, base) if isinstance(path, str) else None
    try:
        prompt_set = load_named_prompts(str(name), resolved)
    except ConfigError as exc:
        errors.add("prompts.set", str(exc))
        return {"file": resolved, "limit": limit, "set": name}
    texts = list(prompt_set.prompts)[:limit] if limit else list(prompt_set.prompts)
    # No file path: the set's name and digest-checked texts identify it on every machine.
    return {"file": None, "limit": limit, "texts": texts, "set": name}


def _placeholder_error(value: str) -> str:
    """One line saying how to fill in a shipped spec's placeholder search id."""
    spec = value.split(PLACEHOLDER)[0].rstrip("-") or "the source spec"
    return (
        f"{value!r} is a placeholder: give the id `ecad search` printed for the {spec!r} "
        f"search, e.g. `initial_population.from_search={spec}-<digest>` after the spec on the "
        "command line, or in a copy of the spec (`ecad status` lists stored ids)"
    )


def _seed_rule(value: Any) -> str:
    if value not in SEED_RULES:
        raise RecordError(f"image_seed_rule: {value!r} unknown; choose one of {SEED_RULES}")
    return str(value)


def _min_diff_counts(value: Any) -> str:
    if value not in MIN_DIFF_COUNTS:
        raise RecordError(f"min_diff_counts: {value!r} unknown; choose one of {MIN_DIFF_COUNTS}")
    return str(value)


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


def _initial(
    value: Any, errors: _Errors, base: Path, family: Any, steps: Any, num_blocks: Any
) -> dict[str, Any]:
    name = "initial_population"
    shapes = (
        "must be 'random', 'paper' or one of {heuristics: [...]}, {schedules_dir: DIR}, "
        "{from_search: ID} (optionally with generations: [first, last]), {paper: true}, "
        "optionally with truncate: true"
    )
    if value in ("random", None):
        return {"kind": "random"}
    if value == "paper":
        value = {"paper": True}
    if not isinstance(value, Mapping):
        errors.add(name, shapes)
        return {"kind": "random"}
    value = dict(value)
    generations = value.pop("generations", None)
    truncate = value.pop("truncate", False)
    if not isinstance(truncate, bool):
        errors.add(f"{name}.truncate", f"must be true or false, got {truncate!r}")
        truncate = False
    if len(value) != 1:
        errors.add(name, shapes)
        return {"kind": "random"}
    kind, arg = next(iter(value.items()))
    extra = {"truncate": True} if truncate else {}
    if generations is not None and kind != "from_search":
        errors.add(f"{name}.generations", "applies to from_search only (its fronts to seed from)")
    if kind == "paper":
        if arg is not True:
            errors.add(f"{name}.paper", f"must be true, got {arg!r}")
        if family is not None and family.kind not in PAPER_SEEDS:
            errors.add(f"{name}.paper", f"no published seed population for {family.name}")
        return {"kind": "paper", **extra}
    if kind == "heuristics":
        if not isinstance(arg, list) or not arg:
            errors.add(
                f"{name}.heuristics",
                "must be a non-empty list like ['recompute_all_every_n:3', "
                "'tgate_without_ca_avg:10:1', {name: evenly_cache_ff_evenly_spaced, "
                "num_affected_steps: 9, num_affected_blocks: 3}]",
            )
            return {"kind": "random"}
        items = []
        for item in arg:
            bad = heuristic_item_error(
                item, steps if isinstance(steps, int) else 1, family, num_blocks
            )
            if bad is not None:
                errors.add(f"{name}.heuristics", bad)
            else:  # the canonical name:v1:v2 form
                items.append(str(HeuristicCall.parse(item)))
        return {"kind": "heuristics", "items": items, **extra}
    if kind == "schedules_dir":
        path = Path(_resolve_path(str(arg), base))
        if not path.is_dir() or not any(path.glob("*.json")):
            errors.add(f"{name}.schedules_dir", f"{path} is not a directory of schedule JSON files")
        return {"kind": "schedules_dir", "path": str(path), **extra}
    if kind == "from_search":
        if PLACEHOLDER in str(arg):
            errors.add(f"{name}.from_search", _placeholder_error(str(arg)))
        elif (bad := check_search_id(arg)) is not None:
            errors.add(f"{name}.from_search", bad)
        if generations is not None:
            span = _span(generations)
            if span is None:
                errors.add(
                    f"{name}.generations",
                    f"must be [first, last] with 0 <= first <= last, got {generations!r} "
                    "(e.g. [125, 200]: the union of the fronts of generations 125 to 200)",
                )
            else:
                extra["generations"] = list(span)
        return {"kind": "from_search", "search_id": str(arg), **extra}
    errors.add(name, f"unknown kind {kind!r}; {shapes}")
    return {"kind": "random"}


def load_spec(path: str | os.PathLike, overrides: list[str] | None = None) -> SearchSpec:
    """Read a YAML spec; ``overrides`` are ``key=value`` strings (dots for nesting).

    The file is read with a size limit and without alias-expansion bombs (:mod:`ecad.yamlfile`).
    """
    p = Path(path)
    raw = read_yaml(p, "search spec")
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{p}: a search spec must be a YAML mapping, got {type(raw).__name__}")
    raw = dict(raw)
    for item in overrides or []:
        _apply_override(raw, item)
    return parse_spec(raw, source=str(p), base_dir=p.parent.resolve())


def _apply_override(raw: dict, item: str) -> None:
    """Set ``a.b=value`` in ``raw``; the value is YAML (``population=8``, ``quality={...}``)."""
    key, sep, text = item.partition("=")
    parts = key.split(".")
    if not sep or not all(parts):
        raise ConfigError(f"override {item!r}: use key=value or section.key=value (population=8)")
    target = raw
    for depth, part in enumerate(parts[:-1]):
        value = target.get(part)
        if value is None:
            value = target[part] = {}
        elif not isinstance(value, Mapping):
            where = ".".join(parts[: depth + 1])
            raise ConfigError(
                f"override {item!r}: {where} is {value!r}, not a section with fields; "
                f"set it directly ({where}=...)"
            )
        else:
            value = target[part] = dict(value)
        target = value
    target[parts[-1]] = load_yaml(text, f"override {item!r}")


def _check_stored_limits(data: Mapping[str, Any]) -> None:
    """A stored spec is held to the same bounds as a submitted one (it may predate them, or
    have been edited): an over-limit spec fails its search instead of exhausting a process."""
    for name in LIMITS:
        section, _, field_name = name.rpartition(".")
        holder = data.get(section) if section else data
        value = holder.get(field_name) if isinstance(holder, Mapping) else None
        if isinstance(value, int) and not isinstance(value, bool):
            if value < 0:
                raise RecordError(f"{name}: must be >= 0, got {value}")
            if (too_big := limit_error(name, value)) is not None:
                raise RecordError(f"{name}: {too_big}")
    if (bad := guidance_error(data.get("guidance"))) is not None:
        raise RecordError(f"guidance: {bad}")
    for section, name in (("crossover", "prob"), ("mutation", "individual_prob"),
                          ("mutation", "bit_prob"), ("quality", "hv_reference")):
        holder = data.get(section)
        value = holder.get(name) if isinstance(holder, Mapping) else None
        if value is None:
            continue
        low, high = (0.0, 1.0) if name != "hv_reference" else (-math.inf, math.inf)
        if isinstance(value, bool) or not isinstance(value, (int, float)) \
                or not math.isfinite(value) or not low <= value <= high:
            raise RecordError(f"{section}.{name}: must be a finite number in [{low}, {high}], "
                              f"got {value!r:.40}")
    prompts = data.get("prompts")
    texts = prompts.get("texts") if isinstance(prompts, Mapping) else None
    per = data.get("images_per_prompt")
    if isinstance(texts, list) and isinstance(per, int) and len(texts) * per > MAX_PROMPT_PAIRS:
        raise RecordError(
            f"images_per_prompt: {len(texts)} prompts x {per} images exceeds the limit of "
            f"{MAX_PROMPT_PAIRS} images per candidate"
        )
