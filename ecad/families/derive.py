"""``ecad family derive``: the family record of any diffusers transformer, from its class name or
a weights directory.

The transformer is built on the meta device (no weights are read or allocated) from its config:
the weights directory's ``transformer/config.json``, or the class's default config. Its block
lists are the ``nn.ModuleList`` attributes whose blocks hold attention; one forward pass on the
meta device (on the CPU with one block per group, for a forward that reads tensor values)
records how every block calls its submodules, and :mod:`ecad.families.block_roles` classifies
them. The pipeline is read the same way: sampling defaults from its ``__call__`` signature, the
names of ``encode_prompt``'s outputs from its source, the VAE factor from the pipeline itself.

What cannot be classified, or what the caching engine's hooks cannot cache (a component called
twice per block, an output changed in place, a component fed the step's modulation), is a
:class:`DeriveError` naming the module path and class: never a wrong record.
"""

from __future__ import annotations

import ast
import inspect
import json
import re
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ecad.families.block_roles import BlockTrace, DeriveError, classify_block, trace_blocks
from ecad.families.record import RECORD_VERSION, family_from_record

__all__ = ["DeriveError", "derive_record", "record_yaml"]

#: Forward inputs the derived cost inputs know, by argument name (others must have defaults).
_TEXT_DIM_KEYS = ("joint_attention_dim", "caption_channels", "cap_feat_dim", "text_embed_dim",
                  "caption_projection_dim", "cross_attention_dim")
_TRACE_LATENT = 8
_TRACE_TEXT = 8


@dataclass(frozen=True)
class _Source:
    transformer_class: str
    pipeline_class: str
    config: dict[str, Any]
    weights: str | None
    vae_config: dict[str, Any] | None


def _diffusers_class(name: str, what: str) -> type:
    import diffusers

    cls = getattr(diffusers, name, None)
    if not isinstance(cls, type):
        raise DeriveError(f"{name!r} is not a diffusers {what} class (diffusers "
                          f"{diffusers.__version__})")
    return cls


def _read_config(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise DeriveError(f"{path}: cannot read the config ({exc})") from exc
    if not isinstance(data, dict) or "_class_name" not in data:
        raise DeriveError(f"{path}: not a diffusers config (no _class_name)")
    return data


def _guess_pipeline(transformer_class: str) -> str:
    """``<Stem>Pipeline`` for ``<Stem>Transformer2DModel``; else the one text-to-image pipeline
    whose name starts with the stem; else an error listing what was found."""
    import diffusers

    stem = transformer_class
    for suffix in ("Transformer2DModel", "TransformerModel", "Transformer2D", "Model"):
        if stem.endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    if hasattr(diffusers, f"{stem}Pipeline"):
        return f"{stem}Pipeline"
    variants = ("Img2Img", "Inpaint", "ControlNet", "PAG", "Edit", "Video", "Prior", "Redux",
                "Kontext", "Fill", "Control", "Sprint")
    found = sorted(n for n in dir(diffusers) if n.startswith(stem) and n.endswith("Pipeline"))
    plain = [n for n in found if not any(v in n for v in variants)]
    if len(plain) == 1:
        return plain[0]
    raise DeriveError(
        f"no pipeline class found for {transformer_class} (candidates: {found or 'none'}); "
        "pass --pipeline with the diffusers pipeline class that runs it"
    )


def _source(source: str, pipeline_class: str | None) -> _Source:
    path = Path(source).expanduser()
    if path.is_dir():
        if (path / "model_index.json").is_file():
            index = _read_config(path / "model_index.json")
            config = _read_config(path / "transformer" / "config.json")
            vae = path / "vae" / "config.json"
            return _Source(config["_class_name"], pipeline_class or index["_class_name"],
                           _public(config), str(path.resolve()),
                           _read_config(vae) if vae.is_file() else None)
        if (path / "config.json").is_file():
            config = _read_config(path / "config.json")
            name = config["_class_name"]
            return _Source(name, pipeline_class or _guess_pipeline(name), _public(config), None,
                           None)
        raise DeriveError(f"{path}: neither a pipeline directory (model_index.json) nor a "
                          "transformer directory (config.json)")
    if "/" in source or source.endswith((".json", ".yaml")):
        raise DeriveError(f"{source}: no such directory")

    cls = _diffusers_class(source, "transformer")
    model = _meta_model(cls, {}, "its default config")
    return _Source(source, pipeline_class or _guess_pipeline(source), _public(model.config),
                   None, None)


def _meta_model(cls: type, config: dict[str, Any], what: str) -> Any:
    """``cls`` built on the meta device from ``config`` (no memory); a clear error if it can't."""
    import torch

    try:
        with torch.device("meta"):
            return cls.from_config(config) if config else cls()
    except Exception as exc:  # any constructor failure: say which class and config
        raise DeriveError(
            f"cannot build {cls.__name__} from {what} ({type(exc).__name__}: {exc}); derive from "
            "a weights directory (pipeline or transformer folder) whose config.json is complete"
        ) from exc


def _public(config: Any) -> dict[str, Any]:
    return json.loads(json.dumps({k: v for k, v in dict(config).items()
                                  if not k.startswith("_")}))


def _pipeline_facts(pipeline_cls: type, src: _Source, model: Any) -> dict[str, Any]:
    """VAE factor and sampling defaults as the pipeline itself computes them."""
    import diffusers
    import torch

    params = list(inspect.signature(pipeline_cls.__init__).parameters)[1:]
    parts: dict[str, Any] = dict.fromkeys(params)
    if src.vae_config is not None and "vae" in parts:
        vae_cls = getattr(diffusers, src.vae_config["_class_name"], None)
        if vae_cls is not None:
            with torch.device("meta"):
                parts["vae"] = vae_cls.from_config(_public(src.vae_config))
    parts["transformer"] = model if "transformer" in parts else None
    try:
        pipe = pipeline_cls(**parts)
    except Exception as exc:  # a pipeline __init__ that needs real components
        raise DeriveError(f"cannot build {pipeline_cls.__name__} without weights to read its "
                          f"defaults ({exc})") from exc
    call = inspect.signature(pipeline_cls.__call__).parameters

    def default(name: str, fallback: Any) -> Any:
        value = call[name].default if name in call else None
        return fallback if value is None or value is inspect.Parameter.empty else value

    vae = int(getattr(pipe, "vae_scale_factor", 8) or 8)
    sample = getattr(pipe, "default_sample_size", None) or src.config.get("sample_size")
    resolution = default("height", int(sample) * vae if sample else 1024)
    return {"steps": int(default("num_inference_steps", 28)),
            "guidance": float(default("guidance_scale", 4.5)),
            "resolution": int(resolution), "vae_scale_factor": vae,
            "max_sequence_length": int(default("max_sequence_length", 256)),
            "text_components": [p for p in params if p.startswith(("text_encoder", "tokenizer"))]}


def _prompt_outputs(pipeline_cls: type) -> list[str | None]:
    """Names of ``encode_prompt``'s outputs, from its ``return`` statement; a name the
    pipeline's ``__call__`` does not take becomes ``None``."""
    name = pipeline_cls.__name__
    if not hasattr(pipeline_cls, "encode_prompt"):
        raise DeriveError(f"{name} has no encode_prompt; the generic adapter needs one")
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(pipeline_cls.encode_prompt)))
    except (OSError, TypeError, SyntaxError) as exc:
        raise DeriveError(f"cannot read {name}.encode_prompt's source ({exc})") from exc
    shapes = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Return) and node.value is not None:
            elts = node.value.elts if isinstance(node.value, ast.Tuple) else [node.value]
            shapes.add(tuple(e.id if isinstance(e, ast.Name) else None for e in elts))
    call = inspect.signature(pipeline_cls.__call__).parameters
    if len(shapes) != 1 or None in next(iter(shapes)):
        raise DeriveError(f"cannot tell what {name}.encode_prompt returns (returns: "
                          f"{sorted(map(str, shapes))}); write prompt_encoding.outputs by hand")
    outputs = [n if n in call else None for n in next(iter(shapes))]
    if "prompt_embeds" not in outputs:
        raise DeriveError(f"{name}.encode_prompt returns {next(iter(shapes))}, no prompt_embeds")
    return outputs


def _guess_inputs(model: Any, config: dict[str, Any]) -> dict[str, Any]:
    """Symbolic forward inputs from the forward signature and the config."""
    params = inspect.signature(model.forward).parameters
    packed = "img_ids" in params
    rope = config.get("axes_dims_rope")
    axes = len(rope) if isinstance(rope, (list, tuple)) else 3  # position-id axes (FLUX: 3)
    text_dim = next((k for k in _TEXT_DIM_KEYS if isinstance(config.get(k), int)), None)
    known: dict[str, dict[str, Any]] = {
        "hidden_states": {"shape": ["batch", "tokens", "in_channels"] if packed
                          else ["batch", "in_channels", "latent", "latent"]},
        "timestep": {"shape": ["batch"]},
        "img_ids": {"shape": ["tokens", axes]},
        "txt_ids": {"shape": ["text", axes]},
        "pooled_projections": {"shape": ["batch", "pooled_projection_dim"]},
        "encoder_attention_mask": {"shape": ["batch", "text"], "dtype": "bool"},
    }
    if text_dim:
        known["encoder_hidden_states"] = {"shape": ["batch", "text", text_dim]}
    if config.get("guidance_embeds"):
        known["guidance"] = {"shape": ["batch"]}
    inputs: dict[str, Any] = {}
    for name, p in params.items():
        if name in known:
            inputs[name] = known[name]
        elif p.default is inspect.Parameter.empty and p.kind not in (p.VAR_KEYWORD,
                                                                     p.VAR_POSITIONAL):
            raise DeriveError(
                f"{type(model).__name__}.forward needs {name!r}, which derivation cannot size; "
                "derive from a weights directory of a supported model or edit cost.inputs"
            )
    return inputs


def _groups(model: Any) -> list[tuple[str, Any]]:
    import torch

    from ecad.families.block_roles import is_attention

    out = []
    for name, child in model.named_children():
        if not isinstance(child, torch.nn.ModuleList) or not len(child):
            continue
        if len({type(b) for b in child}) != 1:
            continue
        if any(is_attention(m) for m in child[0].modules()):
            out.append((name, child))
    if not out:
        raise DeriveError(f"{type(model).__name__} has no nn.ModuleList of blocks with attention")
    return out


def _group_name(module_list: str) -> str:
    if module_list == "transformer_blocks":
        return "blocks"
    for suffix in ("_transformer_blocks", "_blocks"):
        if module_list.endswith(suffix):
            return module_list[: -len(suffix)]
    return module_list


def _count_key(config: dict[str, Any], count: int, module_list: str) -> str | None:
    """The config key of a block list's length: the ``num_*`` key of that value, preferring
    one that names the list (``num_single_layers`` for ``single_transformer_blocks``), then
    ``num_layers``; ``None`` when that does not settle it."""
    keys = [k for k, v in config.items() if k.startswith("num_") and v == count
            and isinstance(v, int) and not isinstance(v, bool)]
    if len(keys) > 1:
        keys = [k for k in keys if any(w in k for w in ("layer", "block", "depth"))] or keys
    words = [w for w in module_list.split("_") if w not in ("transformer", "blocks", "layers")]
    named = [k for k in keys if any(w in k for w in words)]
    if len(named) == 1:
        return named[0]
    unnamed = [k for k in keys if k not in named]
    if "num_layers" in unnamed and not words:
        return "num_layers"
    return keys[0] if len(keys) == 1 else None


def _traced(model_cls: type, config: dict[str, Any],
            inputs: dict[str, Any]) -> tuple[str, dict[str, BlockTrace]]:
    """Run the forward once, on meta if it can, else on the CPU with one block per group."""
    import torch

    from ecad.families.inputs import input_tensors, symbol_values

    symbols = symbol_values(2, _TRACE_TEXT, _TRACE_LATENT)
    with torch.device("meta"):
        model = model_cls.from_config(config)
    groups = [name for name, _ in _groups(model)]
    try:
        with torch.device("meta"):
            tensors = input_tensors(inputs, dict(model.config), symbols, "meta")
        return "meta", trace_blocks(model, groups, tensors)
    except DeriveError:
        raise
    except Exception as meta_exc:
        small = dict(config)
        for name in groups:
            key = _count_key(config, len(getattr(model, name)), name)
            if key is not None:
                small[key] = 1
        try:
            torch.manual_seed(0)
            cpu_model = model_cls.from_config(small).eval()
            tensors = input_tensors(inputs, dict(cpu_model.config), symbols, "cpu")
            return "cpu", trace_blocks(cpu_model, groups, tensors)
        except DeriveError:
            raise
        except Exception as exc:
            raise DeriveError(
                f"cannot run {model_cls.__name__}.forward with the derived inputs "
                f"{ {k: v['shape'] for k, v in inputs.items()} } (meta device: {meta_exc}; "
                f"CPU: {exc}); edit cost.inputs by hand"
            ) from exc


def _same_components(where: str, blocks: Any, comps: list) -> None:
    """Every block of a group has block 0's components (SD3's last block has no
    ``ff_context``: a record cannot say that, so derivation says so instead)."""
    for i, block in enumerate(blocks):
        for c in comps:
            found = getattr(block, c.path, None)
            if type(found).__name__ != c.cls:
                raise DeriveError(
                    f"{where}.{i}.{c.path} is {type(found).__name__}, but block 0's is {c.cls}: "
                    "the blocks of a group must have the same components; write the record by "
                    "hand without that component"
                )


def derive_record(source: str, name: str | None = None,
                  pipeline_class: str | None = None) -> dict[str, Any]:
    """The family record (plain data, validated) of a transformer class or weights directory."""

    src = _source(source, pipeline_class)
    model_cls = _diffusers_class(src.transformer_class, "transformer")
    pipeline_cls = _diffusers_class(src.pipeline_class, "pipeline")
    model = _meta_model(model_cls, src.config, "the config")
    config = _public(model.config)
    facts = _pipeline_facts(pipeline_cls, src, model)
    inputs = _guess_inputs(model, config)
    device, traces = _traced(model_cls, config, inputs)
    groups = _groups(model)
    main = next((n for n, _ in groups if n == "transformer_blocks"),
                max(groups, key=lambda g: len(g[1]))[0])
    records = []
    for module_list, blocks in groups:
        gname = _group_name(module_list)
        prefix = "" if module_list == main else f"{gname}_"
        comps = classify_block(f"{src.transformer_class}.{module_list}.0", blocks[0],
                               traces[module_list])
        _same_components(f"{src.transformer_class}.{module_list}", blocks, comps)
        records.append({
            "name": gname,
            "module_list": module_list,
            "num_blocks": len(blocks),
            "num_blocks_key": _count_key(config, len(blocks), module_list),
            "json_prefix": prefix,
            "components": [{"name": f"{prefix}{c.name}" if prefix else c.name, "path": c.path,
                            "role": c.role, "class": c.cls} for c in comps],
        })
    patch = int(config.get("patch_size") or 1) * (2 if "img_ids" in inputs else 1)
    record = {
        "version": RECORD_VERSION,
        "name": name or _default_name(src.transformer_class),
        "transformer_class": src.transformer_class,
        "pipeline_class": src.pipeline_class,
        "default_weights": src.weights,
        "defaults": {"steps": facts["steps"], "guidance": facts["guidance"],
                     "resolution": facts["resolution"], "dtype": "bfloat16"},
        "max_sequence_length": facts["max_sequence_length"],
        "vae_scale_factor": facts["vae_scale_factor"],
        "patch_size": patch,
        "block_groups": records,
        "prompt_encoding": {"text_components": facts["text_components"],
                            "outputs": _prompt_outputs(pipeline_cls)},
        "cost": {"device": device, "inputs": inputs},
        "transformer_config": config,
    }
    family_from_record(record, f"derived record of {source}")  # never write an invalid one
    return record


def _default_name(transformer_class: str) -> str:
    """``SanaTransformer2DModel`` -> ``sana``; ``-derived`` is added to a built-in's name."""
    from ecad.families import FAMILIES

    stem = transformer_class.replace("Transformer2DModel", "").replace("Model", "")
    out = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "-", stem).lower() or "derived"
    builtin = {a.lower() for f in FAMILIES.values() for a in (f.name, *f.aliases)}
    return f"{out}-derived" if out in builtin else out


def record_yaml(record: dict[str, Any], source: str) -> str:
    """The record as a commented YAML file (``transformer_config`` last: it is the long part)."""
    import yaml

    head = {k: v for k, v in record.items() if k != "transformer_config"}
    body = yaml.safe_dump(head, sort_keys=False, default_flow_style=None, width=100)
    config = yaml.safe_dump({"transformer_config": record["transformer_config"]},
                            sort_keys=False, default_flow_style=None, width=100)
    return (
        f"# ECAD family record derived from {source} by `ecad family derive`.\n"
        "# Edit freely: defaults, names, roles, or drop a component you do not want cached.\n"
        "# Any edit gives the family a new id (name@digest): results of the old record are\n"
        "# never mixed with the new one's. Check with: ecad family show THIS_FILE\n"
        f"{body}"
        "# The full-size transformer's config (cost tables are counted on it).\n"
        f"{config}"
    )
