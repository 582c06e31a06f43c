"""True TGATE (the paper's TGATE baseline) on a stock diffusers PixArt pipeline, with hooks.

A schedule whose custom attention is ``compute_attn_tgate`` with gate step ``m`` runs as the
reference implementation runs it, with the classifier-free-guidance batch ``[uncond, cond]``:

- steps ``< m - 1``: the boolean schedule (plain caching);
- step ``m - 1``: every cross-attention runs on the full batch and its output is used as usual;
  each keeps the average of its two guidance halves, ``(uncond + cond) / 2``;
- steps ``>= m``: guidance is dropped: a hook on the transformer runs it on the unconditional
  half only (batch B: the latents, the null prompt's embeddings and mask, the timestep) and
  returns that output for both halves, so the pipeline's guidance combination
  ``u + g * (u - u)`` hands ``u`` to the sampler unchanged; cross-attention never runs, each
  returns its kept average. Self-attention and MLPs must be recomputed at step ``m`` (no 2B-batch
  cache is ever reused at batch B).

The reference ignores cross-attention bits from ``m - 1`` on; so does this engine. With
``drop_guidance=False`` the transformer keeps batch 2B and both halves get the average: the same
result to float rounding (a check that the guidance drop is a pure compute saving).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from diffusers.hooks import HookRegistry, ModelHook

from ecad.caching.state import CallState, in_graph, nbytes
from ecad.caching.targets import SlotTarget
from ecad.errors import ScheduleMismatchError
from ecad.schedules import Schedule

__all__ = ["TGATE_HOOK_NAMES", "cross_attention_gates", "install_tgate", "plain_caching_bits"]

GUIDANCE_HOOK = "ecad_tgate_guidance"
CROSS_ATTENTION_HOOK = "ecad_tgate_cross_attention"
TGATE_HOOK_NAMES = (GUIDANCE_HOOK, CROSS_ATTENTION_HOOK)


def _cross_columns(schedule: Schedule) -> np.ndarray:
    roles = schedule.layout.family.components_with_role("cross_attention")
    return np.array([s.component in roles for s in schedule.layout.slots])


def plain_caching_bits(schedule: Schedule) -> np.ndarray:
    """The bits the plain-caching engine runs for a true-TGATE schedule: the effective bits with
    cross-attention "recomputed" from ``m - 1`` on (the TGATE hooks answer it there). With the
    gate at ``m == steps`` it never opens: these bits are all that runs (no TGATE hooks), the
    boolean twin's, cross-attention computed at the last step as the reference computes it."""
    gate = schedule.custom_attention.gate_step
    bits = schedule.effective()
    bits[gate - 1 :, _cross_columns(schedule)] = True
    if not schedule.custom_attention.opens_within(schedule.steps):
        return bits
    name = schedule.metadata.name
    stale = [s for s, ok in zip(schedule.layout.slots, bits[gate]) if not ok]
    if stale:
        raise ScheduleMismatchError(
            f"true-TGATE schedule {name!r}: {stale[0].block_key}/{stale[0].component} is reused "
            f"at the gate step {gate}, but its cache holds the 2B guidance batch and the "
            f"transformer runs batch B from the gate on; recompute every component at step {gate}"
        )
    return bits


def _halve(value: Any, full: int) -> Any:
    """The unconditional (first) half of every batch-first tensor of a call's arguments."""
    if isinstance(value, torch.Tensor) and value.ndim and value.shape[0] == full:
        return value[: full // 2]
    if isinstance(value, dict):
        return {k: _halve(v, full) for k, v in value.items()}
    return value


def _twice(output: Any) -> Any:
    """The output for both guidance halves (the pipeline then combines ``u + g * (u - u)``)."""
    if isinstance(output, tuple):
        return (torch.cat([output[0], output[0]]), *output[1:])
    if hasattr(output, "sample"):
        return type(output)(sample=torch.cat([output.sample, output.sample]))
    return torch.cat([output, output])


def _batch_of(args: tuple, kwargs: dict) -> int:
    hidden = args[0] if args else kwargs.get("hidden_states")
    if not isinstance(hidden, torch.Tensor):
        raise ScheduleMismatchError("true TGATE: the transformer was called without hidden_states")
    batch = int(hidden.shape[0])
    if batch % 2:
        raise ScheduleMismatchError(
            f"true TGATE needs the classifier-free-guidance batch [uncond, cond], got an odd "
            f"batch of {batch}; call the pipeline with guidance_scale > 1"
        )
    return batch


def _check_guidance_batch(args: tuple, kwargs: dict) -> None:
    """Classifier-free guidance feeds the same latents to both halves; anything else (no
    guidance, two different prompts) must not be averaged."""
    hidden = args[0] if args else kwargs.get("hidden_states")
    half = _batch_of(args, kwargs) // 2
    if not torch.equal(hidden[:half], hidden[half:]):
        raise ScheduleMismatchError(
            "true TGATE needs the classifier-free-guidance batch [uncond, cond] (both halves "
            "with the same latents); this call has none: call the pipeline with "
            "guidance_scale > 1"
        )


class _GuidanceDropHook(ModelHook):
    """On the transformer, inside the step-tracking hook: checks at ``m - 1`` that the batch is
    a guidance batch (two equal halves of latents), and from the gate on (when dropping
    guidance) runs batch B only."""

    def __init__(self, call: CallState, gate: int, drop: bool) -> None:
        super().__init__()
        self.call, self.gate, self.drop = call, gate, drop

    def step_signature(self, t: int) -> tuple:
        """Guidance checked at ``m - 1``, dropped from ``m`` on (``ecad.caching.compiled``)."""
        return (t == self.gate - 1, t < self.gate or not self.drop)

    def check_call(self, step: int, args: tuple, kwargs: dict) -> None:
        """The guidance-batch check, run outside compiled graphs (it reads tensor values)."""
        if step == self.gate - 1:
            _check_guidance_batch(args, kwargs)

    def new_forward(self, module: torch.nn.Module, *args: Any, **kwargs: Any) -> Any:
        if self.call.step == self.gate - 1 and not in_graph():
            _check_guidance_batch(args, kwargs)
        if self.call.step < self.gate or not self.drop:
            return self.fn_ref.original_forward(*args, **kwargs)
        full = _batch_of(args, kwargs)
        args = tuple(_halve(a, full) for a in args)
        kwargs = {k: _halve(v, full) for k, v in kwargs.items()}
        return _twice(self.fn_ref.original_forward(*args, **kwargs))


class _CrossAttentionHook(ModelHook):
    """On one cross-attention module: average at ``m - 1``, the average from ``m`` on."""

    _is_stateful = True

    def __init__(self, call: CallState, gate: int) -> None:
        super().__init__()
        self.call, self.gate = call, gate
        self.average: torch.Tensor | None = None
        self.cache_id = 0  # set by CallState.add_listener

    def step_signature(self, t: int) -> tuple:
        """Before, at or after the gate's step ``m - 1`` (``ecad.caching.compiled``)."""
        return (t < self.gate - 1, t == self.gate - 1)

    def new_forward(self, module: torch.nn.Module, *args: Any, **kwargs: Any) -> Any:
        step = self.call.step
        if step < self.gate - 1:
            return self.fn_ref.original_forward(*args, **kwargs)
        if step == self.gate - 1:
            out = self.fn_ref.original_forward(*args, **kwargs)
            self.keep_average(out)
            return out
        hidden = args[0] if args else kwargs["hidden_states"]
        return self.average_for(int(hidden.shape[0]))

    def gated(self, step: int) -> bool:
        """From the gate on the module never runs: it answers :meth:`average_for`."""
        return step >= self.gate

    def keeps_average(self, step: int) -> bool:
        return step == self.gate - 1

    def keep_average(self, out: torch.Tensor) -> None:
        """At ``m - 1``: keep the mean of the output's two guidance halves."""
        half = _batch_of((out,), {}) // 2
        self.drop_caches()
        self.average = self.call.hold((self.cache_id,), (out[:half] + out[half:]) / 2)

    def average_for(self, batch: int) -> torch.Tensor:
        """The kept average for a call of ``batch`` (B once guidance is dropped, else 2B)."""
        if self.average is None:
            raise ScheduleMismatchError(
                f"true TGATE: step {self.call.step} needs the cross-attention average of step "
                f"{self.gate - 1}, which did not run in this call"
            )
        repeat = batch // int(self.average.shape[0])
        return self.average if repeat == 1 else self.average.repeat(repeat, 1, 1)

    def drop_caches(self) -> None:
        self.call.settle()  # whatever order the hooks are reset in
        if self.average is not None:
            self.call.release(self.average)
            self.average = None

    def cached_bytes(self) -> int:
        self.call.settle()
        return nbytes(self.average)

    def reset_state(self, module: torch.nn.Module) -> torch.nn.Module:
        self.drop_caches()
        return module


def install_tgate(
    transformer: torch.nn.Module,
    schedule: Schedule,
    call: CallState,
    targets: list[SlotTarget],
    drop_guidance: bool,
) -> None:
    """Register the TGATE hooks; call before the step-tracking hook is registered on the
    transformer, so that it runs first (outermost) and the step is known here."""
    gate = schedule.custom_attention.gate_step
    call.refuse_partial = (
        f"schedule {schedule.metadata.name!r} is true TGATE, whose cross-attention average "
        f"is taken at step {gate - 1} of a full run"
    )
    HookRegistry.check_if_exists_or_initialize(transformer).register_hook(
        _GuidanceDropHook(call, gate, drop_guidance), GUIDANCE_HOOK
    )
    for target, cross in zip(targets, _cross_columns(schedule)):
        if cross:
            hook = _CrossAttentionHook(call, gate)
            call.add_listener(hook)
            HookRegistry.check_if_exists_or_initialize(target.module).register_hook(
                hook, CROSS_ATTENTION_HOOK
            )


def cross_attention_gates(block: torch.nn.Module, names: Any) -> dict[str, _CrossAttentionHook]:
    """The TGATE cross-attention hooks on a block's components ``names`` (by attribute path)."""
    gates = {}
    for name in names:
        registry = getattr(block.get_submodule(name), "_diffusers_hook", None)
        hook = registry.get_hook(CROSS_ATTENTION_HOOK) if registry is not None else None
        if hook is not None:
            gates[name] = hook
    return gates
