"""Shared fixtures: offline hub, a private cache dir, tiny pipelines of every family."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO_ROOT = Path(__file__).resolve().parents[1]
REFERENCE = REPO_ROOT.parent / "shared" / "reference" / "upstream-ecad"
FAMILY_NAMES = ("pixart-alpha", "pixart-sigma", "flux-dev")
#: Today's models (issue 22): their own test module covers the engine, cost and search on each.
FIRST_CLASS_NAMES = ("sd3.5-large", "qwen-image", "flux2-dev")


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ecad-cache")
    os.environ["ECAD_CACHE_DIR"] = str(path)
    return path


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    if not REFERENCE.is_dir():
        pytest.fail(f"reference data missing: {REFERENCE} (CI runs with ../shared beside the repo)")
    return REFERENCE


@pytest.fixture(scope="session")
def tiny_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each family's tiny random-weight pipeline, written once with save_pretrained."""
    from ecad.families import get_family
    from ecad.families.loading import save_tiny_pipeline

    root = tmp_path_factory.mktemp("tiny-models")
    return {
        name: save_tiny_pipeline(get_family(name), root / name)
        for name in (*FAMILY_NAMES, *FIRST_CLASS_NAMES)
    }
