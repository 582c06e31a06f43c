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


@pytest.fixture(scope="session")
def derived_family(tmp_path_factory: pytest.TempPathFactory):
    """``derived_family(pipeline_class)`` -> (pipeline dir, record file, family): a tiny pipeline
    of a class with no built-in family (tests/families/tiny_derived.py), saved with
    save_pretrained, and its record written by ``ecad family derive``'s code. Built on first use."""
    from ecad.families import get_family
    from ecad.families.derive import derive_record, record_yaml
    from tests.families.tiny_derived import save_tiny_derived

    root = tmp_path_factory.mktemp("derived")
    built: dict[str, tuple] = {}

    def get(pipeline_class: str):
        if pipeline_class not in built:
            name = pipeline_class.removesuffix("Pipeline").lower() + "-tiny"
            directory = save_tiny_derived(pipeline_class, root / name)
            record = root / "families" / f"{name}.yaml"
            record.parent.mkdir(exist_ok=True)
            data = derive_record(str(directory), name=name)
            data["max_sequence_length"] = 32  # a user's edit: short prompts for a tiny model
            record.write_text(record_yaml(data, str(directory)))
            built[pipeline_class] = (directory, record, get_family(str(record)))
        return built[pipeline_class]

    return get
