"""A quality predictor over schedule genomes: Bayesian ridge regression on schedule features.

Features (:func:`genome_features`), from the *effective* schedule (step 0 always computes):
per (step >= 1, slot) whether the cell is reused and how stale its output is (steps since the
component last computed, over the number of steps), each slot's and each step's reuse fraction,
the total reuse fraction and its square. Linear in the reuse bits, with staleness and the
aggregates as a hierarchical prior: a ridge fit on a few dozen evaluations already ranks by the
aggregates, and the per-cell terms sharpen as evaluations accumulate.

Model: weighted ridge regression through the SVD of the standardised design matrix (from the
eigendecomposition of its smaller Gram matrix); the penalty
is chosen among a fixed grid by exact leave-one-out error (closed form), and the predictive
standard deviation is the Bayesian posterior's (noise variance from the leave-one-out residuals).
Plain numpy, deterministic: the same rows give the same predictions. Fit and prediction run
their BLAS calls on one thread (threadpoolctl): the scheduler's CPU time per generation stays
within a second at the paper's population (more BLAS threads spin while they wait for each
other, doubling to quadrupling the process's CPU time on a busy machine), and the arithmetic
does not change with the machine's thread count.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
from threadpoolctl import threadpool_limits

from ecad.search.preselection.record import PredictorInfo

__all__ = ["FEATURES", "MODEL", "QualityPredictor", "genome_features"]

FEATURES = (
    "reuse[step,slot]",
    "staleness[step,slot]",
    "reuse_fraction[slot]",
    "reuse_fraction[step]",
    "reuse_fraction",
    "reuse_fraction^2",
)
MODEL = "bayesian ridge (numpy), penalty by leave-one-out over 10^-3..10^3 x rows"
_ALPHAS = np.logspace(-3, 3, 13)

_Method = TypeVar("_Method", bound=Callable)


def _one_blas_thread(method: _Method) -> _Method:
    @functools.wraps(method)
    def run(*args, **kwargs):
        with threadpool_limits(limits=1, user_api="blas"):
            return method(*args, **kwargs)

    return run  # type: ignore[return-value]


def genome_features(X: np.ndarray, steps: int) -> np.ndarray:
    """Feature rows (float64) of boolean genomes ``X`` ([n, steps * slots], step-major)."""
    X = np.asarray(X, dtype=bool)
    n = len(X)
    cells = X.reshape(n, steps, -1)
    reuse = ~cells[:, 1:, :]  # step 0 is computed whatever its bit says
    age = np.zeros(reuse.shape, dtype=np.float64)
    run = np.zeros((n, cells.shape[2]), dtype=np.float64)
    for t in range(steps - 1):
        run = np.where(reuse[:, t, :], run + 1.0, 0.0)
        age[:, t, :] = run
    r = reuse.astype(np.float64)
    total = r.mean(axis=(1, 2))
    return np.concatenate(
        [
            r.reshape(n, -1),
            age.reshape(n, -1) / steps,
            r.mean(axis=1),
            r.mean(axis=2),
            total[:, None],
            (total**2)[:, None],
        ],
        axis=1,
    )


@dataclass(frozen=True)
class _Fit:
    mean: np.ndarray  # feature means (weighted)
    scale: np.ndarray  # feature standard deviations (1 where constant)
    y_mean: float
    coef: np.ndarray  # in standardised feature space
    V: np.ndarray  # right singular vectors (columns) of the weighted design
    shrink: np.ndarray  # 1 / (s^2 + alpha)
    alpha: float
    noise: float  # residual variance per unit weight


class QualityPredictor:
    """Fit on (genome, quality, weight) rows, predict quality and its standard deviation.

    Example::

        p = QualityPredictor(steps=10).fit(X, quality, weight)
        mean, std = p.predict(X_new)
    """

    def __init__(self, steps: int) -> None:
        self.steps = steps
        self._fit: _Fit | None = None
        self.info: PredictorInfo | None = None  # set by :meth:`fit`

    @_one_blas_thread
    def fit(
        self, X: np.ndarray, y: np.ndarray, weight: np.ndarray, source: np.ndarray | None = None
    ) -> QualityPredictor:
        """``source``: rows of a transfer source (another search, maybe another model): they
        share the genome's effects but keep their own mean quality (an offset), so predictions
        are on this search's scale."""
        Phi = genome_features(X, self.steps)
        y = np.asarray(y, dtype=np.float64)
        w = np.asarray(weight, dtype=np.float64) / np.max(weight)
        offset = np.zeros(len(y))
        if source is not None and np.any(source) and not np.all(source):
            source = np.asarray(source, dtype=bool)
            for group in (source, ~source):
                offset[group] = (w[group] * y[group]).sum() / w[group].sum()
            offset -= offset[~source][0]  # this search's rows keep their scale
            y = y - offset
        mean = (w[:, None] * Phi).sum(0) / w.sum()
        scale = np.sqrt((w[:, None] * (Phi - mean) ** 2).sum(0) / w.sum())
        scale[scale < 1e-12] = 1.0
        y_mean = float((w * y).sum() / w.sum())
        sw = np.sqrt(w)
        A = (Phi - mean) / scale * sw[:, None]
        b = (y - y_mean) * sw
        U, s, Vt = _thin_svd(A)
        Ub = U.T @ b
        best: tuple[float, float] | None = None
        n = len(y)
        for alpha in _ALPHAS * n:
            f = s**2 / (s**2 + alpha)
            resid = b - U @ (f * Ub)
            h = (U**2) @ f  # hat diagonal
            loo = resid / np.maximum(1.0 - h, 1e-9)
            err = float(np.mean(loo**2))
            if best is None or err < best[0] - 1e-15:
                best = (err, float(alpha))
        assert best is not None
        err, alpha = best
        f = s / (s**2 + alpha)
        self._fit = _Fit(
            mean, scale, y_mean, Vt.T @ (f * Ub), Vt.T, 1.0 / (s**2 + alpha), alpha, err
        )
        loo_pred = y - _loo_residuals(U, s, Ub, b, alpha) / sw + offset
        y = y + offset
        self.info = PredictorInfo(
            features=FEATURES,
            n_features=int(Phi.shape[1]),
            model=MODEL,
            alpha=alpha,
            rows=n,
            noise_sd=float(np.sqrt(err)),
            loo_rank_correlation=rank_correlation(loo_pred, y),
        )
        return self

    @_one_blas_thread
    def predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Predicted quality and its standard deviation (the model's own uncertainty, without
        the noise of one evaluation) per genome row."""
        fit = self._fit
        if fit is None:
            raise RuntimeError("QualityPredictor.predict before fit")
        Z = (genome_features(X, self.steps) - fit.mean) / fit.scale
        mean = fit.y_mean + Z @ fit.coef
        P = Z @ fit.V
        inside = (P**2) @ fit.shrink
        outside = np.maximum((Z**2).sum(1) - (P**2).sum(1), 0.0) / fit.alpha
        return mean, np.sqrt(fit.noise * (inside + outside))


def _thin_svd(A: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``U, s, Vt`` of ``A`` through the eigendecomposition of its smaller Gram matrix (rows x
    rows while there are fewer evaluations than features): a fraction of LAPACK's SVD time at
    the paper's genome (3,297 features), precise enough for a penalised fit."""
    n, d = A.shape
    G = A @ A.T if n <= d else A.T @ A
    evals, vecs = np.linalg.eigh(G)
    keep = evals > max(float(evals[-1]), 1e-300) * 1e-12
    s = np.sqrt(evals[keep])
    if n <= d:
        U = vecs[:, keep]
        return U, s, (A.T @ U / s).T
    V = vecs[:, keep]
    return A @ V / s, s, V.T


def _loo_residuals(U, s, Ub, b, alpha):
    f = s**2 / (s**2 + alpha)
    return (b - U @ (f * Ub)) / np.maximum(1.0 - (U**2) @ f, 1e-9)


def rank_correlation(a: np.ndarray, b: np.ndarray) -> float | None:
    """Spearman's rank correlation (average ranks for ties); None with fewer than 3 pairs or
    a constant side."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if len(a) < 3:
        return None
    ra, rb = _ranks(a), _ranks(b)
    if np.std(ra) == 0 or np.std(rb) == 0:
        return None
    return float(np.corrcoef(ra, rb)[0, 1])


def _ranks(a: np.ndarray) -> np.ndarray:
    """Ranks from 1, ties given their average rank (as scipy.stats.rankdata's default)."""
    order = np.argsort(a, kind="mergesort")
    inverse = np.empty(len(a), dtype=int)
    inverse[order] = np.arange(len(a))
    ordered = a[order]
    first = np.r_[True, ordered[1:] != ordered[:-1]]
    dense = np.cumsum(first)[inverse]
    starts = np.r_[np.flatnonzero(first), len(a)]
    return 0.5 * (starts[dense] + starts[dense - 1] + 1)
