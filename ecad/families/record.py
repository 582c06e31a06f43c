"""Family record files: a derived model family as a small YAML file a user can read and edit.

``ecad family derive`` writes one; a spec names it (``family: ./families/my-model.yaml``). The
file is validated field by field, every problem reported at once with the file and field named.
The family's id is ``<name>@<digest>``: the digest covers the whole record, so a search, its
images and its schedules are keyed by the record's content, never by where the file lies, and an
edited record never meets results of the old one. Torch-free (``ecad family list`` reads these).

Format (``version: 1``)::

    version: 1
    name: sana-tiny
    transformer_class: SanaTransformer2DModel
    pipeline_class: SanaPipeline
    default_weights: /models/sana            # hub id, local directory, or null
    defaults: {steps: 20, guidance: 4.5, resolution: 1024, dtype: bfloat16}
    max_sequence_length: 300
    vae_scale_factor: 32
    patch_size: 1
    block_groups:
      - name: blocks
        module_list: transformer_blocks
        num_blocks: 20                       # the full-size model's
        num_blocks_key: num_layers           # its transformer config key
        json_prefix: ""
        components:
          - {name: attn1, path: attn1, role: self_attention, class: Attention}
    prompt_encoding:
      text_components: [text_encoder, tokenizer]
      outputs: [prompt_embeds, prompt_attention_mask, negative_prompt_embeds, ...]
    cost:
      device: meta
      inputs: {hidden_states: {shape: [batch, in_channels, latent, latent]}, ...}
    transformer_config: {...}
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ecad.errors import FamilyError
from ecad.families.builtin import FAMILIES
from ecad.families.family import ROLES, BlockGroup, ModelFamily

__all__ = [
    "RECORD_VERSION",
    "family_from_record",
    "is_record_path",
    "read_record_file",
    "record_digest",
]

RECORD_VERSION = 1
DERIVED_KIND = "derived"
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_PATH = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_0-9][A-Za-z0-9_]*)*$")
_DTYPES = ("float32", "float16", "bfloat16")
_COST_DEVICES = ("meta", "cpu")
#: Symbols a cost input shape may use besides integers and transformer config keys.
SHAPE_SYMBOLS = ("batch", "text", "latent", "half_latent", "tokens")
_KEYS = {
    "version", "name", "transformer_class", "pipeline_class", "default_weights", "defaults",
    "max_sequence_length", "vae_scale_factor", "patch_size", "block_groups", "prompt_encoding",
    "cost", "transformer_config",
}


def _no_tiny_build(name: str):
    def build(**_: Any) -> Any:
        raise FamilyError(
            f"derived family {name!r} has no built-in tiny model; give weights: a pipeline "
            "directory (save_pretrained output) or a hub id"
        )

    return build


def is_record_path(value: str) -> bool:
    """Whether a family argument names a record file rather than a registered family."""
    return value.endswith((".yaml", ".yml")) or "/" in value or value.startswith(".")


def record_digest(record: Mapping[str, Any]) -> str:
    """Digest of a record's content (key order and file formatting do not matter)."""
    text = json.dumps(record, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def read_record_file(path: str | Path) -> ModelFamily:
    """Read and validate a family record file."""
    from ecad.yamlfile import read_yaml

    p = Path(path)
    if not p.is_file():
        raise FamilyError(
            f"family file {p} not found; write one with: ecad family derive CLASS_OR_WEIGHTS_DIR "
            f"-o {p}"
        )
    return family_from_record(read_yaml(p, "family file"), str(p))


class _Problems:
    def __init__(self, source: str) -> None:
        self.source, self.items = source, []

    def add(self, where: str, message: str) -> None:
        self.items.append(f"{where}: {message}")

    def raise_any(self) -> None:
        if self.items:
            raise FamilyError(
                f"{self.source}: invalid family record:\n  " + "\n  ".join(self.items)
            )


def _typed(data: Mapping, key: str, kind: type | tuple, p: _Problems, where: str = "") -> Any:
    value = data.get(key)
    ok = isinstance(value, kind) and not (isinstance(value, bool) and kind in (int, float))
    if not ok:
        names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
        p.add(f"{where}{key}", f"must be a {names}, got {value!r:.60}")
        return None
    return value


def _positive(data: Mapping, key: str, p: _Problems, where: str = "") -> int | None:
    value = _typed(data, key, int, p, where)
    if value is not None and value < 1:
        p.add(f"{where}{key}", f"must be >= 1, got {value}")
        return None
    return value


def _group(raw: Any, i: int, p: _Problems) -> BlockGroup | None:
    where = f"block_groups[{i}]."
    if not isinstance(raw, Mapping):
        p.add(f"block_groups[{i}]", "must be a mapping with name, module_list, components")
        return None
    name = _typed(raw, "name", str, p, where)
    module_list = _typed(raw, "module_list", str, p, where)
    if module_list is not None and not _IDENT.match(module_list):
        p.add(f"{where}module_list", f"{module_list!r} is not an attribute name")
    num_blocks = _positive(raw, "num_blocks", p, where)
    prefix = raw.get("json_prefix", "")
    if not isinstance(prefix, str) or (prefix and not re.match(r"^[a-z][a-z0-9_]*_$", prefix)):
        p.add(f"{where}json_prefix", f"must be '' or like 'single_', got {prefix!r}")
    key = raw.get("num_blocks_key")
    if key is not None and not isinstance(key, str):
        p.add(f"{where}num_blocks_key", f"must be a config key or null, got {key!r}")
    comps = raw.get("components")
    if not isinstance(comps, list) or not comps:
        p.add(f"{where}components", "must be a non-empty list of {name, path, role}")
        return None
    names, paths, roles = [], {}, {}
    for j, comp in enumerate(comps):
        cw = f"{where}components[{j}]."
        if not isinstance(comp, Mapping):
            p.add(cw[:-1], "must be a mapping {name, path, role}")
            continue
        cname = _typed(comp, "name", str, p, cw)
        path = _typed(comp, "path", str, p, cw)
        role = comp.get("role")
        if role not in ROLES:
            p.add(f"{cw}role", f"{role!r} unknown; choose one of {list(ROLES)}")
        if path is not None and not _PATH.match(path):
            p.add(f"{cw}path", f"{path!r} is not an attribute path inside a block (like 'attn1')")
        if cname is None:
            continue
        if not _IDENT.match(cname):
            p.add(f"{cw}name", f"{cname!r} must be a short identifier like 'attn1'")
        if cname in names:
            p.add(f"{cw}name", f"{cname!r} appears twice in the group")
        names.append(cname)
        paths[cname], roles[cname] = path, role
    if None in (name, module_list, num_blocks) or not isinstance(prefix, str):
        return None
    return BlockGroup(
        name=name,
        module_list=module_list,
        num_blocks=num_blocks,
        components=tuple(names),
        component_paths=paths,
        json_prefix=prefix,
        roles=roles,
        num_blocks_key=key,
    )


def _check_groups(groups: list[BlockGroup], p: _Problems) -> None:
    if sum(1 for g in groups if not g.json_prefix) > 1:
        p.add("block_groups", "at most one group may have json_prefix ''")
    for what, values in (
        ("name", [g.name for g in groups]),
        ("module_list", [g.module_list for g in groups]),
        ("json_prefix", [g.json_prefix for g in groups]),
    ):
        dup = sorted({v for v in values if values.count(v) > 1})
        if dup:
            p.add("block_groups", f"{what} {dup} used by more than one group")
    owner: dict[str, str] = {}
    for g in groups:
        for c in g.components:
            if c in owner and owner[c] != g.name:
                p.add("block_groups", f"component {c!r} is in groups {owner[c]!r} and {g.name!r};"
                      " component names must be unique across groups")
            owner[c] = g.name


def _prompt_encoding(raw: Any, p: _Problems) -> tuple[tuple[str, ...], tuple[str | None, ...]]:
    if not isinstance(raw, Mapping):
        p.add("prompt_encoding", "must be a mapping with text_components and outputs")
        return (), ()
    text = raw.get("text_components")
    outputs = raw.get("outputs")
    if not isinstance(text, list) or not all(isinstance(t, str) for t in text):
        p.add("prompt_encoding.text_components", "must be a list of pipeline component names")
        text = []
    if (
        not isinstance(outputs, list)
        or not outputs
        or not all(o is None or isinstance(o, str) for o in outputs)
        or "prompt_embeds" not in outputs
    ):
        p.add(
            "prompt_encoding.outputs",
            "must list encode_prompt's outputs in order, by the pipeline call's argument name "
            "(null for one the call does not take), prompt_embeds included",
        )
        outputs = []
    return tuple(text), tuple(outputs)


def _cost(raw: Any, config: Mapping[str, Any], p: _Problems) -> tuple[str, dict[str, Any]]:
    if not isinstance(raw, Mapping):
        p.add("cost", "must be a mapping with device and inputs")
        return "meta", {}
    device = raw.get("device", "meta")
    if device not in _COST_DEVICES:
        p.add("cost.device", f"{device!r} unknown; choose one of {list(_COST_DEVICES)}")
    inputs = raw.get("inputs")
    if not isinstance(inputs, Mapping) or not inputs:
        p.add("cost.inputs", "must map forward argument names to {shape: [...]}")
        return str(device), {}
    for name, spec in inputs.items():
        where = f"cost.inputs.{name}"
        shape = spec.get("shape") if isinstance(spec, Mapping) else None
        if not isinstance(shape, list):
            p.add(where, "must be {shape: [dims...]} (dims: integers, config keys or "
                  f"{list(SHAPE_SYMBOLS)})")
            continue
        for dim in shape:
            if isinstance(dim, bool) or not (
                isinstance(dim, int) or dim in SHAPE_SYMBOLS or dim in config
            ):
                p.add(where, f"dimension {dim!r} is neither an integer, a symbol of "
                      f"{list(SHAPE_SYMBOLS)} nor a key of transformer_config")
        if spec.get("dtype", "float32") not in (*_DTYPES, "bool", "int64"):
            p.add(f"{where}.dtype", f"{spec.get('dtype')!r} unknown")
    return str(device), dict(inputs)


def family_from_record(data: Any, source: str = "<family record>") -> ModelFamily:
    """The :class:`ModelFamily` of a parsed record; :class:`FamilyError` lists every problem."""
    p = _Problems(source)
    if not isinstance(data, Mapping):
        raise FamilyError(f"{source}: a family record must be a YAML mapping")
    for key in sorted(set(data) - _KEYS):
        p.add(key, f"unknown field; allowed: {sorted(_KEYS)}")
    if data.get("version") != RECORD_VERSION:
        p.add("version", f"must be {RECORD_VERSION}, got {data.get('version')!r}")
    name = _typed(data, "name", str, p)
    if name is not None and not _NAME.match(name):
        p.add("name", f"{name!r} must be lowercase letters, digits, '.', '_' or '-'")
    for key in ("transformer_class", "pipeline_class"):
        value = _typed(data, key, str, p)
        if value is not None and not _IDENT.match(value):
            p.add(key, f"{value!r} is not a class name")
    weights = data.get("default_weights")
    if weights is not None and not isinstance(weights, str):
        p.add("default_weights", f"must be a hub id, a directory or null, got {weights!r}")
    defaults = data.get("defaults")
    if not isinstance(defaults, Mapping):
        p.add("defaults", "must be a mapping of steps, guidance, resolution, dtype")
        defaults = {}
    steps = _positive(defaults, "steps", p, "defaults.")
    guidance = _typed(defaults, "guidance", (int, float), p, "defaults.")
    resolution = _positive(defaults, "resolution", p, "defaults.")
    dtype = defaults.get("dtype")
    if dtype not in _DTYPES:
        p.add("defaults.dtype", f"{dtype!r} unknown; choose one of {list(_DTYPES)}")
    max_len = _positive(data, "max_sequence_length", p)
    vae = _positive(data, "vae_scale_factor", p)
    patch = _positive(data, "patch_size", p)
    config = data.get("transformer_config")
    if not isinstance(config, Mapping):
        p.add("transformer_config", "must be the transformer's config mapping")
        config = {}
    raw_groups = data.get("block_groups")
    groups: list[BlockGroup] = []
    if not isinstance(raw_groups, list) or not raw_groups:
        p.add("block_groups", "must be a non-empty list of block groups")
    else:
        groups = [g for i, raw in enumerate(raw_groups) if (g := _group(raw, i, p))]
        _check_groups(groups, p)
    text, outputs = _prompt_encoding(data.get("prompt_encoding"), p)
    device, inputs = _cost(data.get("cost"), config, p)
    if name is not None:
        builtin = {a.lower() for f in FAMILIES.values() for a in (f.name, *f.aliases)}
        if name.lower() in builtin:
            p.add("name", f"{name!r} is a built-in family's name; choose another")
    p.raise_any()
    record = json.loads(json.dumps(data))  # plain JSON types: what travels and is digested
    if resolution % (vae * patch):
        raise FamilyError(
            f"{source}: defaults.resolution {resolution} is not a multiple of "
            f"vae_scale_factor x patch_size = {vae * patch}"
        )
    return ModelFamily(
        name=f"{name}@{record_digest(record)}",
        kind=DERIVED_KIND,
        pipeline_class=data["pipeline_class"],
        transformer_class=data["transformer_class"],
        block_groups=tuple(groups),
        default_weights=weights or "",
        default_steps=steps,
        default_guidance=float(guidance),
        default_resolution=resolution,
        default_dtype=dtype,
        max_sequence_length=max_len,
        transformer_config=dict(config),
        build_tiny_pipeline=_no_tiny_build(name),
        aliases=(name,),
        vae_scale_factor=vae,
        patch_size=patch,
        text_components=text,
        prompt_outputs=outputs,
        cost_inputs=inputs,
        cost_device=device,
        record=record,
    )
