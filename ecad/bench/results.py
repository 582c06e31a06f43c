"""What a benchmark run measured: plain data, JSON in and out."""

from __future__ import annotations

import json
import os
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ecad.atomic import write_atomic
from ecad.errors import ConfigError

__all__ = ["BenchReport", "BenchRow"]


@dataclass
class BenchRow:
    """One configuration at one output type.

    Attributes:
        label: what ran (``plain diffusers``, ``no-cache``, a schedule's name).
        engine: ``none`` (no hooks), ``lean`` (block recipes, the default engine) or
            ``component`` (component hooks only, the reference engine).
        output: ``latent`` or ``pil``.
        times_ms: every timed pipeline call, in milliseconds.
        images: images per call.
        schedule_digest: content digest of the schedule (``None`` for plain diffusers).
        predicted: predicted speedup over no caching per cost model (``macs``, ``macs-linear``,
            ``latency``).
        predicted_ms_per_image: the latency table's prediction, when one was given.
        speedup: measured speedup over plain diffusers at the same output type.
        peak_gpu_bytes: peak memory allocated by torch during this row's calls (weights included).
        peak_cache_bytes: most bytes the schedule's caches held at once during a call.
        compile_seconds: compiled rows: how much longer the first call took than a warm one
            (compilation and CUDA-graph capture).
        compile: compiled schedules: the engine's ``compile_stats`` (patterns, compilations).
        transformer_ms_per_image: of ``ms_per_image``, the time inside the transformer's calls
            (one extra call, CUDA events around each transformer call); the rest is the
            pipeline's own per-step work, which no schedule shortens.
        transformer_call_ms: the same call's time in each transformer call, in call order (a
            step pattern's own cost: FORA-3's reused steps against its computed ones).
        profile: ``--profile`` runs: one more call under ``torch.profiler``
            (:func:`ecad.bench.profiling.profile_call`: GPU busy time, top kernels).
    """

    label: str
    engine: str
    output: str
    times_ms: list[float]
    images: int
    schedule_digest: str | None = None
    predicted: dict[str, float] = field(default_factory=dict)
    predicted_ms_per_image: float | None = None
    speedup: float | None = None
    peak_gpu_bytes: int = 0
    peak_cache_bytes: int = 0
    compile_seconds: float | None = None
    compile: dict[str, Any] | None = None
    transformer_ms_per_image: float | None = None
    transformer_call_ms: list[float] | None = None
    profile: dict[str, Any] | None = None

    @property
    def median_ms(self) -> float:
        return float(statistics.median(self.times_ms))

    @property
    def ms_per_image(self) -> float:
        return self.median_ms / self.images

    def efficiency(self, mode: str) -> float | None:
        """Measured speedup / the ``mode`` cost model's predicted speedup."""
        predicted = self.predicted.get(mode)
        if self.speedup is None or not predicted:
            return None
        return self.speedup / predicted

    @property
    def latency_error(self) -> float | None:
        """(predicted - measured) / measured latency per image."""
        if self.predicted_ms_per_image is None:
            return None
        return self.predicted_ms_per_image / self.ms_per_image - 1.0


@dataclass
class BenchReport:
    """A whole run: settings, environment (GPU, versions) and rows."""

    family: str
    resolution: int
    batch: int
    steps: int
    dtype: str
    settings: dict[str, Any]
    environment: dict[str, Any]
    rows: list[BenchRow] = field(default_factory=list)
    latency_table: str | None = None

    def row(self, label: str, output: str, engine: str | None = None) -> BenchRow | None:
        for row in self.rows:
            if row.label == label and row.output == output and engine in (None, row.engine):
                return row
        return None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for raw, row in zip(data["rows"], self.rows):
            raw["median_ms"] = row.median_ms
            raw["ms_per_image"] = row.ms_per_image
            raw["efficiency"] = {m: row.efficiency(m) for m in row.predicted}
            raw["latency_error"] = row.latency_error
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BenchReport:
        derived = {"median_ms", "ms_per_image", "efficiency", "latency_error"}
        try:
            rows = [
                BenchRow(**{k: v for k, v in r.items() if k not in derived}) for r in data["rows"]
            ]
            fields = {k: v for k, v in data.items() if k != "rows"}
            return cls(**fields, rows=rows)
        except (KeyError, TypeError) as exc:
            raise ConfigError(f"not a benchmark report: {exc}") from exc

    def save(self, path: str | os.PathLike) -> Path:
        return write_atomic(path, json.dumps(self.to_json(), indent=2))

    @classmethod
    def load(cls, path: str | os.PathLike) -> BenchReport:
        try:
            return cls.from_json(json.loads(Path(path).read_text()))
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError(f"{path}: cannot read benchmark report ({exc})") from exc
