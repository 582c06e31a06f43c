"""``ecad weights fetch``: which weights a name means, which files a download takes, the hub
cache read offline with huggingface_hub's own API, and the errors a user sees."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ecad.errors import ConfigError
from ecad.families.fetch import fetch_weights, pipeline_files, weights_target

REPO = "example-org/pixart-mini"
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def test_pipeline_files_take_what_diffusers_loads():
    files = [
        "model_index.json", "README.md",
        "transformer/config.json", "transformer/diffusion_pytorch_model.safetensors",
        "transformer/diffusion_pytorch_model.bin",  # a pickled copy beside safetensors
        "transformer/diffusion_pytorch_model.fp16.safetensors",  # a dtype variant
        "text_encoder/config.json", "text_encoder/pytorch_model.bin",  # only pickled: kept
        "vae/diffusion_pytorch_model.safetensors", "vae/flax_model.msgpack",
        "tokenizer/spiece.model", "scheduler/scheduler_config.json", "onnx/model.onnx",
    ]
    assert pipeline_files(files) == [
        "model_index.json", "README.md",
        "transformer/config.json", "transformer/diffusion_pytorch_model.safetensors",
        "text_encoder/config.json", "text_encoder/pytorch_model.bin",
        "vae/diffusion_pytorch_model.safetensors",
        "tokenizer/spiece.model", "scheduler/scheduler_config.json",
    ]


def test_weights_targets_from_families_and_specs(tmp_path):
    default = weights_target("pixart-alpha")
    assert default.family.name == "pixart-alpha"
    assert default.weights == default.family.default_weights
    assert weights_target("flux-dev:/models/flux").weights == "/models/flux"
    tiny = weights_target("tiny")  # the shipped spec
    assert (tiny.family.name, tiny.weights, tiny.resolution) == ("pixart-alpha", "tiny", 64)
    (tmp_path / "weights").mkdir()
    spec = tmp_path / "my.yaml"
    spec.write_text("family: pixart-sigma\nweights: weights\nresolution: 128\n")
    mine = weights_target(str(spec))
    assert (mine.family.name, mine.weights, mine.resolution) == (
        "pixart-sigma", str((tmp_path / "weights").resolve()), 128)
    with pytest.raises(ConfigError, match=r"'nope' is neither a model family .* shipped spec"):
        weights_target("nope")


def test_fetch_builds_tiny_weights_and_checks_local_directories(tmp_path):
    path = fetch_weights(weights_target("pixart-alpha:tiny"))
    assert (path / "model_index.json").is_file()
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match=r"no model_index\.json"):
        fetch_weights(weights_target(f"pixart-alpha:{tmp_path / 'empty'}"))


def hub_cache(root: Path) -> Path:
    """The layout huggingface_hub keeps a downloaded snapshot in."""
    repo = root / f"models--{REPO.replace('/', '--')}"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(COMMIT)
    snapshot = repo / "snapshots" / COMMIT
    snapshot.mkdir(parents=True)
    (snapshot / "model_index.json").write_text("{}")
    return snapshot


def fetch_cli(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ecad", "weights", "fetch", *args],
                          env={**os.environ, **env}, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_offline_fetch_finds_the_hub_cache_and_names_what_is_missing(tmp_path):
    snapshot = hub_cache(tmp_path / "hub")
    env = {"HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(tmp_path / "hub")}
    found = fetch_cli(f"pixart-alpha:{REPO}", **env)
    assert found.returncode == 0, found.stderr
    assert found.stdout.strip() == f"pixart-alpha:{REPO}: pixart-alpha weights {REPO} -> {snapshot}"

    missing = fetch_cli("pixart-alpha:example-org/absent", **env)
    assert missing.returncode == 2
    assert "example-org/absent is not in the cache at" in missing.stderr
    assert "HF_HUB_OFFLINE" in missing.stderr


@pytest.mark.slow
def test_fetch_defaults_to_the_workers_warm_list_and_refuses_a_placeholder_token(tmp_path):
    hub_cache(tmp_path / "hub")
    env = {"HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(tmp_path / "hub")}
    listed = fetch_cli(**env, ECAD_WORKER_WARM=f"pixart-alpha:{REPO}, pixart-alpha:tiny")
    assert listed.returncode == 0, listed.stderr
    assert [line.split(":")[0] for line in listed.stdout.splitlines()] == ["pixart-alpha"] * 2
    nothing = fetch_cli(**env, ECAD_WORKER_WARM="")
    assert nothing.returncode == 0 and "nothing to fetch" in nothing.stderr
    refused = fetch_cli("tiny", **env, HF_TOKEN="change-me-token")
    assert refused.returncode == 2 and "HF_TOKEN" in refused.stderr


def test_a_spec_naming_a_family_record_is_read_from_the_spec_folder(
    tmp_path, derived_family, monkeypatch
):
    directory, record, family = derived_family("SanaPipeline")
    (tmp_path / "families").mkdir()
    (tmp_path / "families" / "sana.yaml").write_bytes(record.read_bytes())
    spec = tmp_path / "spec.yaml"
    spec.write_text("family: ./families/sana.yaml\nresolution: 32\n")
    monkeypatch.chdir(Path("/"))
    target = weights_target(str(spec))
    assert (target.family.name, target.weights, target.resolution) == (
        family.name, str(directory), 32)
