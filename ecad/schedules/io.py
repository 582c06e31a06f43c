"""Read and write schedules in the published ECAD JSON format.

Format::

    {"cache_schedule": {"num_blocks": 28, "num_inference_steps": 20, "name": "...",
                        "attributes": {...},
                        "schedule": {"000": {"0": {"attn1": true, "attn2": true, "ff": true}, ...}},
                        "num_single_blocks": 38},          # FLUX only
     "config": {...}, "metrics": {...}}                    # both optional

Steps are keyed ``"000"``, ``"001"``, ...; blocks ``"0"``, ``"1"``, ... and, for FLUX single
blocks, ``"single_0"``, .... The genome order comes from the family layout, never from key order.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ecad.atomic import write_atomic
from ecad.errors import ScheduleFormatError
from ecad.families import FAMILIES, ModelFamily, derived_families, get_family
from ecad.families.record import is_record_path
from ecad.schedules.custom import CUSTOM_KEY, custom_attention_of
from ecad.schedules.layout import ScheduleLayout, blocks_phrase
from ecad.schedules.schedule import Schedule, ScheduleMetadata
from ecad.textfile import read_text

__all__ = ["parse_schedule", "read_schedule", "schedule_to_json", "write_schedule"]

#: Largest schedule file read; a published FLUX schedule of 50 steps is about 0.3 MB.
MAX_SCHEDULE_BYTES = 16 << 20


def read_schedule(path: str | os.PathLike, family: str | ModelFamily | None = None) -> Schedule:
    """Load a schedule file. ``family`` pins the expected family (else it is inferred)."""
    p = Path(path)
    text = read_text(p, "schedule file", MAX_SCHEDULE_BYTES, ScheduleFormatError)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ScheduleFormatError(
            f"{p}: not valid JSON (truncated or corrupt?) at line {exc.lineno} column {exc.colno}:"
            f" {exc.msg}"
        ) from exc
    return parse_schedule(data, family=family, source=str(p))


def _infer_family(components: set[str], data: Mapping[str, Any], where: str) -> ModelFamily:
    config = data.get("config") or {}
    pipeline = config.get("pipeline") if isinstance(config, Mapping) else None
    named = pipeline.get("name") if isinstance(pipeline, Mapping) else None
    known = [*FAMILIES.values(), *derived_families()]
    candidates = [f for f in known if components <= set(f.components)]
    # A name only, never a path: a schedule file must not make the reader open other files.
    if named and not is_record_path(str(named)):
        try:
            fam = get_family(str(named))
            if fam in candidates:
                return fam
        except ScheduleFormatError:
            pass
        except Exception:  # an unknown published pipeline name is not an error by itself
            pass
    if not candidates:
        raise ScheduleFormatError(
            f"{where}: components {sorted(components)} match no model family; known components: "
            + "; ".join(f"{f.name}: {list(f.components)}" for f in FAMILIES.values())
            + " (a derived family's schedule: name its record file as the family)"
        )
    return candidates[0]


def _block_counts(
    family: ModelFamily, step0: Mapping[str, Any], cs: Mapping[str, Any], source: str
) -> dict:
    """Blocks per group: the header's count if it has one, else the blocks found in step 000.

    The header is checked against the family before anything is sized by it: a model never has
    more blocks than the family's full-size one (tiny test models have fewer).
    """
    counts: dict[str, int] = {}
    for group in family.block_groups:
        header = group.header_key
        declared = cs.get(header)
        found = sum(1 for k in step0 if _group_of(family, k) is group)
        if declared is None:
            counts[group.name] = found
            continue
        if isinstance(declared, bool) or not isinstance(declared, int) or declared < 0:
            raise ScheduleFormatError(
                f"{source}: cache_schedule.{header} must be a block count, got {declared!r}"
            )
        if declared > group.num_blocks:
            raise ScheduleFormatError(
                f"{source}: cache_schedule.{header} is {declared}, but {family.name} has at most "
                f"{blocks_phrase(group.name, group.num_blocks)} (step 000 has {found})"
            )
        counts[group.name] = declared
    return counts


def _group_of(family: ModelFamily, block_key: str):
    for group in sorted(family.block_groups, key=lambda g: -len(g.json_prefix)):
        rest = (
            block_key[len(group.json_prefix) :] if block_key.startswith(group.json_prefix) else None
        )
        if rest is not None and rest.isdigit():
            return group
    return None


def parse_schedule(
    data: Any, family: str | ModelFamily | None = None, source: str = "<schedule>"
) -> Schedule:
    """Validate a parsed schedule document and build a :class:`Schedule`.

    Every error names the source, and where it applies the step, block and component.
    """
    if not isinstance(data, Mapping) or not isinstance(data.get("cache_schedule"), Mapping):
        raise ScheduleFormatError(f"{source}: missing top-level object 'cache_schedule'")
    cs = data["cache_schedule"]
    raw = cs.get("schedule")
    if not isinstance(raw, Mapping) or not raw:
        raise ScheduleFormatError(f"{source}: 'cache_schedule.schedule' must be a non-empty object")

    step_ids = _step_ids(raw, source)
    steps = len(step_ids)
    first = raw[step_ids[0]]
    if not isinstance(first, Mapping) or not first:
        raise ScheduleFormatError(f"{source}: step {step_ids[0]} must map block ids to components")
    seen_components = {
        c for block in first.values() if isinstance(block, Mapping) for c in block
    } - {CUSTOM_KEY}
    if family is not None:
        fam = get_family(family)
        foreign = seen_components - set(fam.components)
        if foreign:
            owner = [f.name for f in FAMILIES.values() if foreign <= set(f.components)]
            hint = f" (this looks like a {owner[0]} schedule)" if owner else ""
            raise ScheduleFormatError(
                f"{source}: schedule is not for family {fam.name}{hint}: "
                f"{_first_component(first, step_ids[0], foreign)}; {fam.name} components are "
                f"{list(fam.components)}"
            )
    else:
        unknown = seen_components - {c for f in (*FAMILIES.values(), *derived_families())
                                     for c in f.components}
        if unknown:
            raise ScheduleFormatError(
                f"{source}: {_first_component(first, step_ids[0], unknown)}: unknown component; "
                "known components: "
                + "; ".join(f"{f.name}: {list(f.components)}" for f in FAMILIES.values())
                + " (a derived family's schedule: name its record file as the family)"
            )
        fam = _infer_family(seen_components, data, source)

    layout = ScheduleLayout.for_family(fam, _block_counts(fam, first, cs, source))
    bits = np.ones((steps, layout.num_slots), dtype=bool)
    expected_blocks = {s.block_key for s in layout.slots}
    entries: dict[tuple[str, str], Mapping[str, Any]] = {}
    for i in range(steps):
        step_key = step_ids[i]
        step = raw[step_key]
        if not isinstance(step, Mapping):
            raise ScheduleFormatError(f"{source}: step {step_key} must be an object of blocks")
        unknown = [b for b in step if b not in expected_blocks]
        if unknown:
            raise ScheduleFormatError(
                f"{source}: step {step_key}, block {unknown[0]!r}: unknown block for "
                f"{layout.describe()}"
            )
        for col, slot in enumerate(layout.slots):
            if slot.block_key not in step:
                raise ScheduleFormatError(
                    f"{source}: step {step_key}, block {slot.block_key}: missing "
                    f"(expected {layout.describe()})"
                )
            block = step[slot.block_key]
            if not isinstance(block, Mapping):
                raise ScheduleFormatError(
                    f"{source}: step {step_key}, block {slot.block_key}: is {_json(block)}; must "
                    "be an object of component: true/false"
                )
            group = next(g for g in fam.block_groups if g.name == slot.group)
            entries[(step_key, slot.block_key)] = block
            extra = [c for c in block if c not in group.components and c != CUSTOM_KEY]
            if extra:
                raise ScheduleFormatError(
                    f"{source}: step {step_key}, block {slot.block_key}, component {extra[0]!r}:"
                    f" unknown component (expected {list(group.components)})"
                )
            if slot.component not in block:
                raise ScheduleFormatError(
                    f"{source}: step {step_key}, block {slot.block_key}, component "
                    f"{slot.component!r}: missing"
                )
            value = block[slot.component]
            if not isinstance(value, bool):
                raise ScheduleFormatError(
                    f"{source}: step {step_key}, block {slot.block_key}, component "
                    f"{slot.component!r}: value {_json(value)} is not a boolean (true = recompute)"
                )
            bits[i, col] = value

    custom = custom_attention_of(entries, data.get("config"), source)
    declared = cs.get("num_inference_steps")
    attributes = cs.get("attributes") or {}
    if not isinstance(attributes, Mapping):
        raise ScheduleFormatError(
            f"{source}: cache_schedule.attributes must be an object, got {_json(attributes)}"
        )
    meta = ScheduleMetadata(
        name=str(cs.get("name", Path(source).stem)),
        attributes=dict(attributes),
        config=data.get("config"),
        metrics=data.get("metrics"),
        declared_steps=declared if isinstance(declared, int) and declared != steps else None,
    )
    try:
        return Schedule(layout, bits, meta, custom)
    except ScheduleFormatError as exc:
        raise ScheduleFormatError(f"{source}: {exc}") from exc


def _step_ids(raw: Mapping[str, Any], source: str) -> list[str]:
    """The step keys in step order; every step 000..N-1 present exactly once."""
    by_index: dict[int, str] = {}
    for key in raw:
        text = str(key)
        if not (text.isascii() and text.isdigit() and len(text) <= 6):
            raise ScheduleFormatError(f"{source}: step key {key!r} is not a step number like '000'")
        if int(text) in by_index:
            raise ScheduleFormatError(
                f"{source}: steps {by_index[int(text)]!r} and {key!r} are the same step"
            )
        by_index[int(text)] = key
    for i in range(len(by_index)):  # len(raw) keys, so this loop is bounded by the file
        if i not in by_index:
            raise ScheduleFormatError(
                f"{source}: missing step {i:03d} (steps must run 000..{max(by_index):03d})"
            )
    return [by_index[i] for i in range(len(by_index))]


def _first_component(step: Mapping[str, Any], step_key: str, names: set[str]) -> str:
    """``step S, block B, component 'C'`` for the first block of ``step`` using one of ``names``."""
    for block_key, block in step.items():
        if isinstance(block, Mapping):
            for component in block:
                if component in names:
                    return f"step {step_key}, block {block_key}, component {component!r}"
    return f"step {step_key}, components {sorted(names)}"


def _json(value: Any) -> str:
    """``value`` as it is written in the file (null, true, "x"), shortened."""
    text = json.dumps(value, default=str)
    return text if len(text) <= 40 else text[:37] + "..."


def schedule_to_json(schedule: Schedule) -> dict[str, Any]:
    """The published-format document for ``schedule`` (key order as in the published files)."""
    layout = schedule.layout
    fam = layout.family
    body: dict[str, Any] = {}
    bits = schedule.bits
    for i in range(schedule.steps):
        step: dict[str, dict[str, bool]] = {}
        for col, slot in enumerate(layout.slots):
            step.setdefault(slot.block_key, {})[slot.component] = bool(bits[i, col])
        if schedule.custom_attention is not None:
            for entry in step.values():
                entry[CUSTOM_KEY] = schedule.custom_attention.to_json()
        body[f"{i:03d}"] = step
    meta = schedule.metadata
    cs: dict[str, Any] = {}
    for group in fam.block_groups:
        if not group.json_prefix:
            cs[group.header_key] = layout.num_blocks(group.name)
    cs["num_inference_steps"] = meta.declared_steps or schedule.steps
    cs["name"] = meta.name
    cs["attributes"] = dict(meta.attributes)
    cs["schedule"] = body
    for group in fam.block_groups:
        if group.json_prefix:
            cs[group.header_key] = layout.num_blocks(group.name)
    doc: dict[str, Any] = {"cache_schedule": cs}
    if meta.config is not None:
        doc["config"] = meta.config
    if meta.metrics is not None:
        doc["metrics"] = meta.metrics
    return doc


def write_schedule(schedule: Schedule, path: str | os.PathLike) -> Path:
    """Write ``schedule`` atomically (temp file + rename) in the published format."""
    return write_atomic(path, json.dumps(schedule_to_json(schedule), indent=4))
