"""The resolved spec, :class:`SearchSpec`: its stored JSON form (versioned), read back through
checks that hold a stored spec to the bounds of a submitted one, and its digest (the id)."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ecad.search.preselection.config import PreselectionConfig, parse_preselection
from ecad.search.pruning import PruningConfig, parse_pruning
from ecad.search.spec.sections import (
    MIN_DIFF_COUNTS,
    SEED_RULES,
    SPEC_VERSION,
    CostSpec,
    CrossoverSpec,
    InitialPopulationSpec,
    MutationSpec,
    PromptsSpec,
    QualitySpec,
    _frozen,
)
from ecad.search.validation import LIMITS, MAX_PROMPT_PAIRS, guidance_error, limit_error
from ecad.search.video_spec import VideoFields
from ecad.store.records import RecordError, check_version, require

__all__ = ["SearchSpec"]


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
    #: Video families: frames, fps, width (:mod:`ecad.search.video_spec`); images: empty.
    video: VideoFields = field(default_factory=VideoFields)
    #: Two-expert families: the low-noise expert's guidance (Wan 2.2's ``guidance_scale_2``);
    #: in the JSON and digest only when set.
    guidance_2: float | None = None
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
            preselection=_preselection_json(data.get("preselection")),
            family_record=record,
            video=VideoFields.from_json(data),
            guidance_2=_guidance_2(data.get("guidance_2")),
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
            **({"preselection": self.preselection.to_json()} if self.preselection.enabled else {}),
            **({"family_record": dict(self.family_record)} if self.family_record else {}),
            **self.video.to_json(),
            **({"guidance_2": self.guidance_2} if self.guidance_2 is not None else {}),
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
    config, errors = parse_pruning(data)
    if errors:
        raise RecordError("; ".join(errors))
    return config


def _preselection_json(data: Any) -> PreselectionConfig:
    config, errors = parse_preselection(data)
    if errors:
        raise RecordError("; ".join(errors))
    return config


def _guidance_2(value: Any) -> float | None:
    if value is None:
        return None
    if (bad := guidance_error(value)) is not None:
        raise RecordError(f"guidance_2: {bad}")
    return float(value)


def _seed_rule(value: Any) -> str:
    if value not in SEED_RULES:
        raise RecordError(f"image_seed_rule: {value!r} unknown; choose one of {SEED_RULES}")
    return str(value)


def _min_diff_counts(value: Any) -> str:
    if value not in MIN_DIFF_COUNTS:
        raise RecordError(f"min_diff_counts: {value!r} unknown; choose one of {MIN_DIFF_COUNTS}")
    return str(value)


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
    for name in ("guidance", "guidance_2"):
        if (name in data or name == "guidance") and (bad := guidance_error(data.get(name))):
            raise RecordError(f"{name}: {bad}")
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
