"""What each submodule of a transformer block is, and whether the caching engine may cache it.

One traced forward records, for the first block of every group, how the block calls each of its
direct submodules: how often per block call, with what (the first input's rank tells a token-wise
projection from a modulation linear fed the conditioning vector; keyword names tell a module fed
the step's modulation), and whether the block changes a returned output in place. Then:

- attention (diffusers ``Attention`` / ``AttentionModuleMixin``): a component whose role is
  ``joint_attention`` (added key/value projections: both streams in one attention),
  ``cross_attention`` (called with ``encoder_hidden_states`` other than its own input) or
  ``self_attention``;
- feed-forward (diffusers ``FeedForward``, ``LuminaFeedForward``, ``GLUMBConv``, or a class named
  like one): a component, role ``mlp``;
- a token-wise ``nn.Linear`` directly in the block (FLUX-style single blocks' ``proj_mlp`` and
  ``proj_out``): a component, role ``mlp``;
- norms, modulation layers (fed a 2-D conditioning vector) and parameter-free modules: not
  components (they keep running every step, as the engine requires);
- anything else that holds parameters: a :class:`~ecad.families.derive.DeriveError`.

A component is cacheable by the hook engine only if the block calls it exactly once per block
call, takes no modulation input (its raw output is what the block then gates and adds), returns
tensors, and the block does not modify that output in place; otherwise derivation fails.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from ecad.errors import FamilyError

__all__ = [
    "BlockTrace",
    "Component",
    "DeriveError",
    "classify_block",
    "is_attention",
    "trace_blocks",
]

_FF_NAME = re.compile(r"FeedForward|MLP|Mlp|FFN|GLU")
#: Keyword inputs that carry the step's conditioning: a module fed one may apply the gate itself.
_CONDITIONING = frozenset({"temb", "emb", "timestep", "timesteps", "t_emb", "adaln_input",
                           "conditioning", "gate", "shift", "scale", "modulation"})


class DeriveError(FamilyError):
    """The transformer has something derivation cannot classify or the engine cannot cache."""


@dataclass(frozen=True)
class Component:
    name: str
    path: str
    role: str
    cls: str


@dataclass
class BlockTrace:
    """How one block called its direct submodules during the traced forward."""

    block_calls: int = 0
    calls: dict[str, list[int]] = field(default_factory=dict)  # per block call
    input_rank: dict[str, int] = field(default_factory=dict)
    conditioning: dict[str, list[str]] = field(default_factory=dict)
    cross: dict[str, bool] = field(default_factory=dict)
    mutated: set[str] = field(default_factory=set)
    bad_output: dict[str, str] = field(default_factory=dict)


def is_attention(module: torch.nn.Module) -> bool:
    from diffusers.models.attention import AttentionModuleMixin
    from diffusers.models.attention_processor import Attention

    return isinstance(module, (Attention, AttentionModuleMixin))


def _is_feed_forward(module: torch.nn.Module) -> bool:
    from diffusers.models.attention import FeedForward, LuminaFeedForward

    return isinstance(module, (FeedForward, LuminaFeedForward)) or bool(
        _FF_NAME.search(type(module).__name__)
    )


def _is_norm(module: torch.nn.Module) -> bool:
    norms = (torch.nn.LayerNorm, torch.nn.GroupNorm, torch.nn.RMSNorm)
    return isinstance(module, norms) or "Norm" in type(module).__name__


def _tensors(value: Any) -> list[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (tuple, list)):
        return [t for v in value for t in _tensors(v)]
    return []


def _first_rank(args: Sequence[Any], kwargs: Mapping[str, Any]) -> int:
    first = next((a for a in (*args, *kwargs.values()) if isinstance(a, torch.Tensor)), None)
    return -1 if first is None else first.dim()


def trace_blocks(
    model: torch.nn.Module, module_lists: Sequence[str], inputs: Mapping[str, Any]
) -> dict[str, BlockTrace]:
    """Run ``model(**inputs)`` once and trace the first block of each list."""
    traces: dict[str, BlockTrace] = {}
    handles = []
    pending: dict[str, list[tuple[torch.Tensor, int]]] = {}

    def watch(block: torch.nn.Module, trace: BlockTrace) -> None:
        names = [n for n, _ in block.named_children()]

        def before(_m, _args):
            trace.block_calls += 1
            for n in names:
                trace.calls.setdefault(n, []).append(0)
            pending.clear()

        def after(_m, _args, _out):
            for n, outs in pending.items():
                if any(t._version != v for t, v in outs):
                    trace.mutated.add(n)

        handles.append(block.register_forward_pre_hook(before))
        handles.append(block.register_forward_hook(after))
        for n, child in block.named_children():
            handles.append(child.register_forward_hook(_child_hook(n, trace, pending),
                                                       with_kwargs=True))

    for name in module_lists:
        trace = traces[name] = BlockTrace()
        watch(getattr(model, name)[0], trace)
    try:
        with torch.no_grad():
            model(**inputs)
    finally:
        for h in handles:
            h.remove()
    return traces


def _child_hook(name: str, trace: BlockTrace, pending: dict[str, Any]):
    def hook(_m, args, kwargs, out):
        if trace.calls.get(name):
            trace.calls[name][-1] += 1
        trace.input_rank.setdefault(name, _first_rank(args, kwargs))
        cond = [k for k, v in kwargs.items() if k in _CONDITIONING and v is not None]
        if cond:
            trace.conditioning[name] = cond
        hidden = kwargs.get("hidden_states", args[0] if args else None)
        context = kwargs.get("encoder_hidden_states", args[1] if len(args) > 1 else None)
        trace.cross[name] = isinstance(context, torch.Tensor) and context is not hidden
        outs = _tensors(out)
        if not outs:
            trace.bad_output[name] = type(out).__name__
        pending[name] = [(t, t._version) for t in outs]

    return hook


def classify_block(where: str, block: torch.nn.Module, trace: BlockTrace) -> list[Component]:
    """The cacheable components of ``block`` (``where`` names it in errors), in the block's
    attribute order (the genome order of its slots)."""
    if trace.block_calls != 1:
        raise DeriveError(
            f"{where} ({type(block).__name__}) ran {trace.block_calls} times in one transformer "
            "forward; the engine caches one output per component and step"
        )
    found: list[Component] = []
    for name, child in block.named_children():
        cls = type(child).__name__
        path = f"{where}.{name} ({cls})"
        called = sum(trace.calls.get(name, [0])) > 0
        has_params = any(True for _ in child.parameters())
        if is_attention(child):
            if not called:
                continue
            if getattr(child, "added_kv_proj_dim", None) is not None:
                role = "joint_attention"
            elif trace.cross.get(name) or getattr(child, "is_cross_attention", False):
                role = "cross_attention"
            else:
                role = "self_attention"
        elif _is_feed_forward(child):
            if not called:
                continue
            role = "mlp"
        elif _is_norm(child) or not has_params:
            continue
        elif called and trace.input_rank.get(name) == 2:
            continue  # a modulation layer: it reads the conditioning vector, not the tokens
        elif called and isinstance(child, torch.nn.Linear):
            role = "mlp"  # a token-wise projection directly in the block
        else:
            state = "is never called in the traced forward" if not called else (
                f"takes a rank-{trace.input_rank.get(name)} input")
            raise DeriveError(
                f"cannot classify {path}: it holds parameters and is neither attention "
                "(diffusers Attention/AttentionModuleMixin), a feed-forward, a norm, nor a "
                f"modulation linear fed the conditioning vector ({state}). Derivation does not "
                "guess: write the family record by hand, or drop this module"
            )
        _check_cacheable(path, name, trace)
        found.append(Component(name, name, role, cls))
    if not found:
        raise DeriveError(
            f"{where} ({type(block).__name__}) has no attention or feed-forward to cache"
        )
    order = {n: i for i, (n, _) in enumerate(block.named_children())}
    return sorted(found, key=lambda c: order[c.path])


def _check_cacheable(path: str, name: str, trace: BlockTrace) -> None:
    counts = set(trace.calls.get(name, []))
    problem = None
    if counts != {1}:
        problem = (f"is called {sorted(counts)} times per block call; the hook engine caches "
                   "exactly one output per component and step")
    elif name in trace.conditioning:
        problem = (f"is given the step's conditioning ({trace.conditioning[name]}); its output "
                   "may already hold the gate, and the engine caches raw outputs only")
    elif name in trace.mutated:
        problem = ": the block changes this module's output in place; a cached output would be "\
                  "corrupted"
    elif name in trace.bad_output:
        problem = f"returns {trace.bad_output[name]}, not tensors"
    if problem is not None:
        raise DeriveError(f"{path}{'' if problem.startswith(':') else ' '}{problem}")
