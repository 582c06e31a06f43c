"""Stop evaluating a candidate whose quality cannot reach the front (racing, applied to NSGA-II).

A candidate's relative cost is known exactly before any image is made, so whether it can join
the cost/quality front depends on its quality alone. Its quality is the mean score over a fixed
set of images (prompts x image seeds), evaluated shard by shard in a fixed order. After each
completed shard the mean of the images so far estimates the full mean; if even an optimistic
bound on it is clearly below the quality the front already reaches at no higher cost, the
remaining shards are not worth generating.

The rule (quality is oriented so that higher is better, as ``Evaluator.aggregate`` does: LPIPS,
whose scorer says ``higher_is_better = False``, enters as ``-LPIPS``)::

    n of N images done (the completed prefix of shards 0, 1, ..., k - 1; k >= min_shards)
    front at cost c:  F(c) = max quality of front members with relative cost <= c, reached by
                      the *leader* L (fully evaluated: its N per-image qualities l_i are known)
    paired     d_i = x_i - l_i on the n images done (x_i: the candidate's)
    estimate   m  = F(c) + mean(d)                                  (n >= MIN_IMAGES)
    std. error se = s_d / sqrt(n) * sqrt((N - n) / (N - 1))   s_d: sample std of the d_i
    optimistic u  = m + t * se     t: Student-t quantile, n - 1 degrees of freedom, at the
                                      one-sided level 1 - Phi(z) of the normal quantile z
    prune  <=>  F(c) > u + margin          (i.e. mean(d) + t * se < -margin)

Pairing (blocking on images, as F-Race blocks on instances) is what makes early stops possible:
an image that is hard for one schedule is hard for the other, so the per-image differences vary
far less than the qualities themselves (measured: ``benchmarks/pruning/README.md``), and ``m``
is a control-variate estimate of the candidate's full mean. Where the leader's scores are
unavailable or a value is not finite, the unpaired form is used: ``m`` = mean of the ``x_i``,
``se`` from their sample std.

The front (:class:`QualityFront`) is the *current* one: the fully evaluated front members of the
population the generation was asked from, and the fully evaluated candidates before this one in
the generation (the driver settles candidates in index order, see
:meth:`ecad.search.driver.SearchDriver`); so generation 0 races its candidates against each other.

``se`` is itself estimated from the images, so the bound uses the t quantile rather than ``z``
(2.84 instead of 2.5 at n = 16); with ``z`` alone, a candidate tying the front was pruned in
3.9 % of simulated runs, above the 3.7 % union bound below. The quantile is the Cornish-Fisher
expansion (Abramowitz & Stegun 26.7.5), within 0.5 % of the exact one for ``n >= MIN_IMAGES``
and ``z <= 4``. The finite-population correction is there because shards sample a *fixed* set
of N images without replacement: once every image is done the estimate is the quality itself.
The unit of the standard error is the image, not the prompt: with several images per prompt a
standard error over prompt means would drop to zero as soon as every prompt has one image, while
the images still to come can move the mean. Shards are stratified (:mod:`ecad.search.stratified`)
so the images done so far cover the prompts evenly; for such a balanced sample the
simple-random-sampling formula above over-states the variance rather than under-states it.

Method. This is racing (Maron & Moore's Hoeffding races; F-Race, Birattari et al. 2002) and
successive halving / ASHA (Jamieson & Talwalkar 2016; Li et al. 2018, as in Ray Tune's and
Optuna's pruners), with one difference: a candidate is stopped only when a confidence bound says
it is dominated, never because it ranks low among its peers, so the decision does not depend on
which other candidates happen to be running. Seen as a sequential test (Wald 1945), each look
tests "the full mean reaches the front at this cost" at one-sided level ``1 - Phi(z)``; the looks
of one candidate are combined by a union (Bonferroni) bound, which is conservative compared with
Pocock or O'Brien-Fleming boundaries because the looks are nested and strongly correlated.

Guarantee (normal approximation of the mean):

- A wrong prune is the pruning of a candidate whose full mean ``q`` reaches the front at its
  cost, ``q >= F(c)`` (it would be on the front, or tie it). For it, ``F(c) > u + margin`` needs
  ``m + t * se < q - margin`` (paired: ``mean(d) + t * se < (q - F(c)) - margin``, with ``q -
  F(c)`` the full mean of the ``d_i``), which has probability at most ``1 - Phi(z)`` at one look
  and at most ``looks * (1 - Phi(z))`` over the candidate's ``looks = shards_total -
  min_shards`` looks, per comparison (the driver makes two where the current front's leader is
  not the parents') (:func:`wrong_prune_bound`; z = 2.5, 8 shards, min_shards 1: 4.3 % for one
  comparison per look, 8.7 % for two). A positive ``margin`` only lowers this. Candidates whose
  full mean lies below the front may be pruned; that loses nothing the front would have kept.
- The front is made of fully evaluated members only: a pruned candidate is told to NSGA-II with
  its optimistic bound ``u < F(c) - margin`` (its estimate ``m <= u`` is biased low, since
  candidates are stopped when their first images look poor), so it is strictly dominated by a
  fully evaluated parent or earlier candidate, which NSGA-II's survival sees too; it keeps
  fronts in rank order, so whenever the pruned candidate survives a dominating member survives
  too, and it never reaches rank 0.
- A wrongly pruned candidate is lost to this generation's front only; it may still be selected
  as a parent (with its optimistic bound) and its genome or its offspring found again.

Determinism: the decision is a function of the candidate's cost, the scores of its completed
*prefix* of shards and the front it is compared with. A driver that fixes each candidate's front
by the scores alone (the parents' front and the settled candidates before it) and calls
:func:`decide` with whatever shards have landed gets the same first pruning point, however the
shards arrive, and the same again after a resume.

Pure numpy, no torch: the scheduler (which holds no models) calls it.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ecad.errors import ConfigError
from ecad.search.pruning_records import PruningDecision

__all__ = [
    "MIN_IMAGES",
    "PruningConfig",
    "QualityFront",
    "decide",
    "estimate",
    "first_look",
    "front_met",
    "oriented_qualities",
    "parse_pruning",
    "t_quantile",
    "wrong_prune_bound",
]

_FIELDS = ("enabled", "z", "margin", "min_shards")
#: Fewest images a decision is made on (the t quantile's expansion needs >= 7 degrees of freedom).
MIN_IMAGES = 8
_COST_TOLERANCE = 1e-12  # relative costs are sums of table entries: equal schedules, equal sums


@dataclass(frozen=True)
class PruningConfig:
    """The spec's ``pruning`` section.

    Example (search spec YAML)::

        pruning: {enabled: true, z: 2.5, margin: 0.0, min_shards: 1}
    """

    #: Off by default: pruning changes which candidates are fully evaluated.
    enabled: bool = False
    #: Normal quantile of the optimistic bound's one-sided level, in [0, 4]. One look wrongly
    #: prunes a front-worthy candidate with probability about ``1 - Phi(z)`` (2.5 -> 0.6 %).
    z: float = 2.5
    #: Quality units (the scorer's: dB for PSNR, SSIM units, ...) by which the front must beat the
    #: optimistic bound. 0 relies on ``z`` alone; > 0 keeps near-ties running.
    margin: float = 0.0
    #: Shards a candidate completes before it may be pruned (and at least ``MIN_IMAGES``).
    min_shards: int = 1

    def __post_init__(self) -> None:
        errors = _validate(self)
        if errors:
            raise ConfigError("; ".join(errors))

    @classmethod
    def from_spec(cls, section: Any, where: str = "pruning") -> PruningConfig:
        """Validate a spec section (``None`` -> defaults); one :class:`ConfigError` lists every
        problem, each naming its field and the allowed range."""
        config, errors = parse_pruning(section, where)
        if errors:
            listing = "\n  ".join(errors)
            raise ConfigError(f"{len(errors)} error(s) in search spec:\n  {listing}")
        return config

    def to_json(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in _FIELDS}


def parse_pruning(section: Any, where: str = "pruning") -> tuple[PruningConfig, list[str]]:
    """A spec section -> (config, errors). With errors the config is the default (off), so a
    spec parser can collect these errors with its own and report them all at once."""
    if section is None:
        return PruningConfig(), []
    if not isinstance(section, Mapping):
        return PruningConfig(), [
            f"{where}: must be a mapping like {{enabled: true, z: 2.5, margin: 0.0, "
            f"min_shards: 1}}, got {type(section).__name__}"
        ]
    errors = [
        f"{where}.{key}: unknown field; allowed: {list(_FIELDS)}"
        for key in sorted(set(section) - set(_FIELDS), key=str)
    ]
    values = {name: section.get(name, getattr(PruningConfig, name)) for name in _FIELDS}
    errors += [f"{where}.{e}" for e in _validate_values(values)]
    if errors:
        return PruningConfig(), errors
    config = PruningConfig(
        enabled=values["enabled"],
        z=float(values["z"]),
        margin=float(values["margin"]),
        min_shards=values["min_shards"],
    )
    return config, []


def _validate(config: PruningConfig) -> list[str]:
    return _validate_values({name: getattr(config, name) for name in _FIELDS})


def _is_number(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)


def _validate_values(v: Mapping[str, Any]) -> list[str]:
    errors = []
    if not isinstance(v["enabled"], bool):
        errors.append(f"enabled: must be true or false, got {v['enabled']!r}")
    if not _is_number(v["z"]) or not 0 <= v["z"] <= 4:
        errors.append(f"z: must be a number in [0, 4] (normal quantile, e.g. 2.5), got {v['z']!r}")
    if not _is_number(v["margin"]) or v["margin"] < 0:
        errors.append(f"margin: must be a number >= 0 (quality units), got {v['margin']!r}")
    n = v["min_shards"]
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        errors.append(f"min_shards: must be an integer >= 1, got {n!r}")
    return errors


@dataclass(frozen=True)
class QualityFront:
    """The front as a step function of cost: the best quality reachable at a cost <= c, and
    which member reaches it (its *leader* at that cost).

    Made once per generation from the fully evaluated front members' ``(quality, relative
    cost[, key])``; :meth:`best_at` and :meth:`leader_at` are then a binary search.

    >>> QualityFront.from_members([(0.9, 0.8, "a"), (0.7, 0.5, "b")]).leader_at(0.6)
    (0.7, 'b')
    """

    costs: tuple[float, ...]  # ascending
    best: tuple[float, ...]  # best[i] = max quality over members with cost <= costs[i]
    leaders: tuple[str | None, ...] = ()  # leaders[i]: the key of the member reaching best[i]

    @classmethod
    def from_members(cls, members: Iterable[tuple[Any, ...]]) -> QualityFront:
        rows = []
        for member in members:
            quality, cost = float(member[0]), float(member[1])
            if math.isfinite(quality) or quality == math.inf:
                rows.append((cost, quality, member[2] if len(member) > 2 else None))
        rows.sort(key=lambda r: (r[0], r[1]))
        costs, best, leaders = [], [], []
        running, leader = -math.inf, None
        for cost, quality, key in rows:
            if quality > running:
                running, leader = quality, key
            costs.append(cost)
            best.append(running)
            leaders.append(leader)
        return cls(tuple(costs), tuple(best), tuple(leaders))

    def best_at(self, cost: float) -> float | None:
        """Best front quality at relative cost <= ``cost``; ``None`` if no member is that cheap."""
        leader = self.leader_at(cost)
        return None if leader is None else leader[0]

    def leader_at(self, cost: float) -> tuple[float, str | None] | None:
        """``(best quality, key of the member reaching it)`` at relative cost <= ``cost``."""
        i = bisect.bisect_right(self.costs, cost + _COST_TOLERANCE)
        if not i:
            return None
        return self.best[i - 1], (self.leaders[i - 1] if self.leaders else None)


def oriented_qualities(scores: Sequence[float | str], higher_is_better: bool) -> np.ndarray:
    """A shard record's per-image scores as qualities (higher is better), like ``aggregate``.

    Stored scores may be strings for non-finite values (``"inf"``: PSNR of identical images).
    """
    values = np.asarray([float(s) for s in scores], dtype=np.float64)
    return values if higher_is_better else -values


def estimate(values: np.ndarray, population: int) -> tuple[float, float]:
    """Mean of ``values`` (2 <= n of ``population`` images, drawn without replacement) and its
    standard error with the finite-population correction."""
    n = len(values)
    if n < 2 or population < n:
        raise ValueError(f"need 2 <= n <= population, got n={n}, population={population}")
    mean = float(np.mean(values))
    if n == population:
        return mean, 0.0
    fpc = (population - n) / (population - 1)
    return mean, float(np.std(values, ddof=1) / math.sqrt(n) * math.sqrt(fpc))


def decide(
    config: PruningConfig,
    cost: float,
    completed: Mapping[int, Sequence[float]],
    shards_total: int,
    images_total: int,
    front: QualityFront,
    leader: Mapping[int, Sequence[float]] | None = None,
    also: Sequence[tuple[QualityFront, Mapping[int, Sequence[float]] | None]] = (),
) -> PruningDecision:
    """Prune or continue one candidate, from the shards it has completed so far.

    ``completed`` maps shard index -> that shard's per-image qualities (oriented, see
    :func:`oriented_qualities`); only the contiguous prefix 0, 1, ..., k - 1 is used, and the
    rule is applied at every prefix length from ``min_shards`` to k in order, stopping at the
    first that prunes. So the answer is the same whether it is asked after each shard or once
    after several, and whatever order shards arrived in: the first pruning point is fixed by the
    scores alone. A candidate is pruned at that point even if later shards are stored too (on a
    cluster they may land before the cancellation does; a store may hold them from another
    search): taking them into account would make the result depend on timing and on the cache.
    A candidate with every shard done and no pruning prefix gets its exact quality.

    ``leader``: the per-image qualities (shard -> list, every shard) of the front member that
    reaches the front's best quality at the candidate's cost (:meth:`QualityFront.leader_at`).
    With it the test is *paired* (blocked on images): the candidate's shortfall against the
    leader is estimated from the per-image differences on the same images, which vary far less
    than the images' qualities do (an image hard for one schedule is hard for the other).
    Without it, or where a difference is not finite, the candidate's own mean is used.

    ``also``: more ``(front, leader)`` comparisons made at every look, after the first; the
    candidate is pruned at the first look where any of them says so (the driver compares with
    the current front and with the parents' front, whose leader may differ).
    """
    prefix: list[np.ndarray] = []
    while len(prefix) in completed:
        prefix.append(np.asarray(completed[len(prefix)], dtype=np.float64))
    best = front.best_at(cost)
    if not config.enabled or not prefix:
        reason = "pruning is off" if not config.enabled else "no completed prefix of shards yet"
        return PruningDecision(False, 0, shards_total, 0, None, None, None, best, reason)
    comparisons = []
    for f, lead in [(front, leader), *also]:
        b = f.best_at(cost)
        comparisons.append((b, _paired_prefix(prefix, lead, shards_total, b)))
    for k in range(1, len(prefix) + 1):
        for n, (b, paired) in enumerate(comparisons):
            decision = _decide_prefix(
                config, k, shards_total, prefix[:k], images_total, b,
                paired[:k] if paired is not None else None,
            )
            if decision.prune:
                return decision
            if n == 0:
                first = decision
    return first


def _paired_prefix(
    prefix: list[np.ndarray],
    leader: Mapping[int, Sequence[float]] | None,
    shards_total: int,
    best: float | None,
) -> list[np.ndarray] | None:
    """The candidate's per-image differences to the leader, shard by shard; None when no paired
    test is possible (no leader, a leader shard missing or of another size, the leader's mean
    not its front quality, or a non-finite value)."""
    if leader is None or best is None or not math.isfinite(best):
        return None
    try:
        rows = [np.asarray(leader[s], dtype=np.float64) for s in range(shards_total)]
    except KeyError:
        return None
    values = np.concatenate(rows)
    if not np.all(np.isfinite(values)) or abs(float(np.mean(values)) - best) > 1e-9 * max(
        1.0, abs(best)
    ):
        return None
    if any(len(p) != len(rows[s]) for s, p in enumerate(prefix)):
        return None
    diffs = [p - rows[s] for s, p in enumerate(prefix)]
    return diffs if all(np.all(np.isfinite(d)) for d in diffs) else None


def _decide_prefix(
    config: PruningConfig,
    k: int,
    shards_total: int,
    shards: list[np.ndarray],
    images_total: int,
    best: float | None,
    diffs: list[np.ndarray] | None = None,
) -> PruningDecision:
    """The rule at one prefix length ``k`` (shards ``0 .. k - 1``); with ``diffs`` (the
    per-image differences to the leader, whose full mean is ``best``) the paired form."""
    values = np.concatenate(shards)
    n = len(values)
    if k >= shards_total or n >= images_total:
        m = float(np.mean(values))
        reason = "every shard done: the quality is exact"
        return PruningDecision(False, k, shards_total, n, m, 0.0, m, best, reason)
    if k < config.min_shards or n < MIN_IMAGES or not np.all(np.isfinite(values)):
        if k < config.min_shards or n < MIN_IMAGES:
            reason = (
                f"{k} shard(s), {n} image(s): below min_shards={config.min_shards} "
                f"or {MIN_IMAGES} images"
            )
        else:
            reason = "a non-finite score: left to the evaluation to record"
        m = float(np.mean(values)) if n else None
        return PruningDecision(False, k, shards_total, n, m, None, None, best, reason)
    if diffs is not None and best is not None:  # paired (diffs come only with a front quality):
        d, se = estimate(np.concatenate(diffs), images_total)  # the leader's exact quality
        m, kind = best + d, "paired with the front's leader"  # plus the estimated difference
    else:
        m, se = estimate(values, images_total)
        kind = "unpaired"
    t = t_quantile(config.z, n - 1)
    u = m + t * se
    prune = best is not None and best > u + config.margin
    if best is None:
        reason = "no front member at or below its cost"
    elif prune:
        reason = (
            f"front reaches {best:.6g} at <= its cost, above the optimistic bound {u:.6g} "
            f"(estimate {m:.6g} + {t:.3g} x {se:.3g}, {kind}) + margin {config.margin:g}"
        )
    else:
        reason = (
            f"optimistic bound {u:.6g} ({kind}) + margin {config.margin:g} reaches front "
            f"{best:.6g}"
        )
    return PruningDecision(prune, k, shards_total, n, m, se, u, best, reason)


def front_met(before: Any, record: Any, stopped: set[int], index: int) -> QualityFront:
    """The current front that candidate ``index`` of ``record``'s offspring was compared with,
    rebuilt from generation records (for audits and tests; the driver keeps it live): the front
    of ``before``'s population (None for generation 0) and the earlier offspring not in
    ``stopped`` (the indices pruning stopped in ``record``'s generation)."""
    members = []
    if before is not None:
        F = np.asarray(before.population.F)
        members = [(1 - F[i, 0], F[i, 1]) for i in before.front]
    offspring = np.asarray(record.offspring.F)
    members += [(1 - offspring[j, 0], offspring[j, 1]) for j in range(index) if j not in stopped]
    return QualityFront.from_members(members)


def first_look(config: PruningConfig, shard_sizes: Sequence[int]) -> int:
    """How many shards a candidate completes before the rule can first stop it: at least
    ``min_shards`` and at least ``MIN_IMAGES`` images."""
    k, images = 0, 0
    while k < len(shard_sizes) and (k < config.min_shards or images < MIN_IMAGES):
        images += shard_sizes[k]
        k += 1
    return k


def t_quantile(z: float, dof: int) -> float:
    """Student-t quantile with ``dof`` degrees of freedom at the level ``Phi(z)`` of the normal
    quantile ``z`` (Cornish-Fisher expansion, Abramowitz & Stegun 26.7.5)."""
    v, x = float(dof), float(z)
    g1 = (x**3 + x) / 4
    g2 = (5 * x**5 + 16 * x**3 + 3 * x) / 96
    g3 = (3 * x**7 + 19 * x**5 + 17 * x**3 - 15 * x) / 384
    g4 = (79 * x**9 + 776 * x**7 + 1482 * x**5 - 1920 * x**3 - 945 * x) / 92160
    return x + g1 / v + g2 / v**2 + g3 / v**3 + g4 / v**4


def wrong_prune_bound(config: PruningConfig, shards_total: int, comparisons: int = 1) -> float:
    """Upper bound (union over looks and comparisons, normal approximation) on the probability
    that a candidate whose full mean reaches the front at its cost is pruned:
    ``looks * comparisons * (1 - Phi(z))`` (the driver makes 2 comparisons per look where the
    current front's leader is not the parents')."""
    looks = max(0, shards_total - config.min_shards)
    return min(1.0, looks * comparisons * 0.5 * math.erfc(config.z / math.sqrt(2.0)))
