"""Every heuristic the ECAD paper published, by the reference's names and parameters.

Placement rules (METHOD.md §3), all steps ``0..S-1``; "every n" recomputes when ``step % n == 0``:

- affected steps of the evenly spaced kinds, ``n`` of ``S``: the ``n`` interior points of
  ``linspace(0, S + 1, n + 2)``, each mapped to ``ceil(point - 1)``;
- ``middle`` blocks, ``n`` of ``B``: ``B // 2 - n // 2`` through ``B // 2 + n // 2`` inclusive, the
  last one dropped when ``n`` is even;
- ``evenly`` blocks: ``round(i * (B - 1) / (n - 1))`` for ``i`` in ``0..n-1`` (Python's round,
  ties to even); ``n = 1`` gives block 0. FLUX counts its 19 double and 38 single blocks as one
  run of 57.

Unlike :mod:`ecad.schedules.heuristics`, these generators keep the reference's step-0 bits as the
rule gives them (the paper's constraint counts them).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ecad.errors import ConfigError
from ecad.schedules.custom import CustomAttention
from ecad.schedules.layout import ScheduleLayout
from ecad.schedules.schedule import Schedule, ScheduleMetadata

__all__ = [
    "CACHE_TARGETS",
    "affected_steps",
    "build_bits_schedule",
    "evenly_blocks",
    "evenly_cache",
    "middle_blocks",
    "recompute_every_n",
    "tgate",
    "tgate_bits",
]

#: What each short component name of the evenly spaced kinds reuses, per family kind (PixArt's
#: and FLUX's are the paper's; the newer families' are this project's: attention and MLPs).
CACHE_TARGETS: dict[str, dict[str, tuple[str, ...]]] = {
    "pixart": {"ca": ("attn2",), "sa": ("attn1",), "ff": ("ff",)},
    "flux": {
        "mlp_ff": ("full_ff", "full_ff_context", "single_proj_mlp", "single_proj_out"),
        "single_full_attn": ("full_attn", "single_attn"),
    },
    "sd3": {"attn": ("attn",), "mlp": ("ff", "ff_context")},
    "qwen-image": {"attn": ("attn",), "mlp": ("img_mlp", "txt_mlp")},
    "flux2": {"attn": ("full_attn", "single_attn"), "mlp": ("full_ff", "full_ff_context")},
    # Wan's blocks are PixArt's shape: self-attention, cross-attention to text, MLP.
    "wan": {"ca": ("attn2",), "sa": ("attn1",), "ff": ("ff",)},
}
#: Family kinds whose blocks have PixArt's self- and cross-attention: TGATE's booleans apply.
TGATE_KINDS = ("pixart", "wan")
TGATE_WARMUP = 2


def _positive(name: str, value: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ConfigError(f"{name} must be an integer, got {value!r}")
    if value < 1 or (high is not None and value > high):
        bound = f"1..{high}" if high is not None else ">= 1"
        raise ConfigError(f"{name} must be in {bound}, got {value}")
    return int(value)


def affected_steps(steps: int, n: int) -> list[int]:
    """The ``n`` of ``steps`` steps an evenly spaced heuristic affects, spread and centred."""
    _positive("num_affected_steps", n, steps)
    points = np.linspace(0, steps + 1, n + 2)[1:-1]
    return [math.ceil(float(p) - 1) for p in points]


def middle_blocks(num_blocks: int, n: int) -> list[int]:
    """One contiguous window of ``n`` blocks in the middle of ``num_blocks``."""
    _positive("num_affected_blocks", n, num_blocks)
    mid = num_blocks // 2
    last = mid + n // 2 - (1 if n % 2 == 0 else 0)
    return list(range(mid - n // 2, last + 1))


def evenly_blocks(num_blocks: int, n: int) -> list[int]:
    """``n`` blocks spread evenly over ``num_blocks`` (first and last included when n >= 2)."""
    _positive("num_affected_blocks", n, num_blocks)
    if n == 1:
        return [0]
    return [round(i * (num_blocks - 1) / (n - 1)) for i in range(n)]


def _columns(layout: ScheduleLayout, components: Sequence[str]) -> np.ndarray:
    return np.array([s.component in components for s in layout.slots])


def _global_blocks(layout: ScheduleLayout) -> np.ndarray:
    """Each slot's block index counted over all groups in order (FLUX: double 0..18, single
    19..56)."""
    offsets, start = {}, 0
    for group, count in layout.block_counts:
        offsets[group] = start
        start += count
    return np.array([offsets[s.group] + s.block for s in layout.slots])


def _schedule(
    layout: ScheduleLayout,
    bits: np.ndarray,
    name: str,
    attributes: dict,
    custom: CustomAttention | None = None,
) -> Schedule:
    config = {"pipeline": custom.pipeline_config()} if custom else None
    meta = ScheduleMetadata(name=name, attributes=attributes, config=config)
    return Schedule(layout, bits, meta, custom)


def _require_kind(layout: ScheduleLayout, heuristic: str, kind: str | tuple[str, ...]) -> None:
    kinds = (kind,) if isinstance(kind, str) else kind
    if layout.family.kind not in kinds:
        raise ConfigError(
            f"{heuristic} is a published {'/'.join(kinds)} heuristic; {layout.family_name} is a "
            f"{layout.family.kind} family"
        )


def recompute_every_n(
    layout: ScheduleLayout, steps: int, n: int, components: Sequence[str] | None = None
) -> np.ndarray:
    """Bits where ``components`` (default all) are recomputed when ``step % n == 0`` and every
    other component at every step."""
    _positive("steps", steps)
    _positive("n", n)
    cols = (
        _columns(layout, components) if components is not None else np.ones(layout.num_slots, bool)
    )
    rows = (np.arange(steps) % n == 0)[:, None]
    return rows | ~cols[None, :]


def evenly_cache(
    layout: ScheduleLayout,
    steps: int,
    placement: str,
    target: str,
    num_affected_steps: int,
    num_affected_blocks: int,
) -> np.ndarray:
    """Bits of ``{placement}_cache_{target}_evenly_spaced``: the target components reused at the
    affected steps in the affected blocks, everything else recomputed."""
    targets = CACHE_TARGETS.get(layout.family.kind, {})
    if target not in targets:
        raise ConfigError(
            f"{placement}_cache_{target}_evenly_spaced: {layout.family_name} has no target "
            f"{target!r}; choose one of {sorted(targets)}"
        )
    blocks = _global_blocks(layout)
    total = int(blocks.max()) + 1
    chosen = (middle_blocks if placement == "middle" else evenly_blocks)(total, num_affected_blocks)
    cols = _columns(layout, targets[target]) & np.isin(blocks, chosen)
    bits = np.ones((steps, layout.num_slots), bool)
    bits[np.ix_(affected_steps(steps, num_affected_steps), np.flatnonzero(cols))] = False
    return bits


def tgate_bits(layout: ScheduleLayout, steps: int, m: int, k: int) -> np.ndarray:
    """The booleans of the reference's ``tgate(m, k)``: before gate step ``m``, self-attention is
    recomputed when ``step < 2`` (warm-up) or ``step % k == 0`` and cross-attention always; from
    ``m`` on, self-attention every step and cross-attention reused; MLPs always."""
    _require_kind(layout, "tgate", TGATE_KINDS)
    _positive("steps", steps)
    _positive("m (gate step)", m, steps)
    _positive("k (self-attention interval)", k)
    fam = layout.family
    selfattn = _columns(layout, fam.components_with_role("self_attention"))
    cross = _columns(layout, fam.components_with_role("cross_attention"))
    t = np.arange(steps)[:, None]
    sa_rows = np.where(t < m, (t < TGATE_WARMUP) | (t % k == 0), True)
    bits = np.ones((steps, layout.num_slots), bool)
    bits = np.where(selfattn[None, :], sa_rows, bits)
    return np.where(cross[None, :], t < m, bits)


def tgate(layout: ScheduleLayout, steps: int, m: int, k: int, average: bool = True) -> Schedule:
    """The reference's ``tgate(m, k)`` (``average=True``: true TGATE, cross-attention averaged
    over the guidance halves at ``m - 1`` and guidance dropped from ``m``) or
    ``tgate_without_ca_avg(m, k)`` (``average=False``: the same booleans, plain caching).

    Named and attributed like the published files (``tgate_m_010_sp_003_fi_001_warmup_002``).
    """
    if average:  # its averaged cross-attention needs both guidance halves in one batch
        _require_kind(layout, "tgate (true TGATE)", "pixart")
    bits = tgate_bits(layout, steps, m, k)
    stem = "tgate" if average else "tgate_without_ca_avg"
    affected_steps = int((~bits).any(axis=1).sum())
    # Nothing reused (m = steps, k = 1): the reference's file counts no affected block either.
    blocks = layout.num_blocks(layout.block_counts[0][0]) if affected_steps else 0
    attributes = {
        "num_affected_blocks": blocks,
        "num_affected_steps": affected_steps,
        "gate_step": m,
        "sp_interval": k,
        "fi_interval": 1,
        "warmup": TGATE_WARMUP,
    }
    name = f"{stem}_m_{m:03d}_sp_{k:03d}_fi_001_warmup_{TGATE_WARMUP:03d}"
    custom = CustomAttention.tgate(m) if average else None
    return _schedule(layout, bits, name, attributes, custom)


def build_bits_schedule(
    layout: ScheduleLayout, bits: np.ndarray, heuristic: str, params: dict[str, int]
) -> Schedule:
    """A published heuristic's schedule, named ``heuristic-param1-param2`` (values in the
    reference's parameter order) and attributed with its parameters."""
    name = "-".join([heuristic, *(f"{k}{v}" for k, v in params.items())])
    return _schedule(layout, bits, name, {"heuristic": heuristic, **params})

