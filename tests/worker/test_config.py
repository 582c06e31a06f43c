"""Celery settings the deployment relies on."""

from __future__ import annotations

import importlib
import re
from importlib.metadata import version
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def config(monkeypatch):
    def load(**env):
        for name in ("ECAD_BROKER_URL", "ECAD_RESULT_BACKEND", "REDIS_PASSWORD"):
            monkeypatch.delenv(name, raising=False)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        import ecad.worker.config

        return importlib.reload(ecad.worker.config)

    yield load
    monkeypatch.undo()
    importlib.reload(importlib.import_module("ecad.worker.config"))


def test_results_are_not_kept_and_the_pool_is_spawned(config):
    cfg = config()
    assert cfg.task_ignore_result is True and cfg.result_backend is None
    assert cfg.worker_pool_start_method == "spawn"
    assert cfg.task_serializer == "json" and cfg.accept_content == ["json"]


def test_celery_is_pinned_to_the_versions_with_worker_pool_start_method():
    pin = re.search(r'"celery\[redis\]([^"]+)"', (ROOT / "pyproject.toml").read_text())[1]
    assert pin == ">=5.7,<6"
    major, minor = (int(p) for p in version("celery").split(".")[:2])
    assert (major, minor) >= (5, 7)
    from celery.app.defaults import NAMESPACES

    assert "pool_start_method" in NAMESPACES["worker"]


def test_the_redis_password_goes_into_the_broker_url(config):
    cfg = config(ECAD_BROKER_URL="redis://redis:6379/0", REDIS_PASSWORD="p@ss/word")
    assert cfg.broker_url == "redis://:p%40ss%2Fword@redis:6379/0"
    cfg = config(ECAD_BROKER_URL="redis://:own@redis:6379/0", REDIS_PASSWORD="other")
    assert cfg.broker_url == "redis://:own@redis:6379/0"  # a URL's own password wins
    cfg = config(ECAD_BROKER_URL="redis://redis:6379/0", ECAD_RESULT_BACKEND="redis://redis/1",
                 REDIS_PASSWORD="pw")
    assert cfg.result_backend == "redis://:pw@redis/1"
