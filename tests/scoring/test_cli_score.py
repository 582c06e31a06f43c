"""``ecad score`` on a directory of generated images."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from ecad.cli.main import cli
from ecad.errors import ConfigError
from tests.scoring.conftest import noise_image, perturbed, write_images

PROMPTS = ["a red fox in snow", "a sign that says open", "two cats"]


@pytest.fixture
def generated(tmp_path: Path) -> tuple[Path, Path]:
    """Six images, two per prompt, and a prompt file."""
    images = write_images(tmp_path / "images", [noise_image(n) for n in range(6)], per_prompt=2)
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("\n".join(PROMPTS) + "\n")
    return images, prompts


def _run(*args: str) -> dict:
    result = CliRunner().invoke(cli, ["score", *args])
    assert result.exit_code == 0, (result.output, result.exception)
    return json.loads(result.stdout)


def test_image_reward_report(generated: tuple[Path, Path], image_reward_files: dict[str, str],
                             tmp_path: Path) -> None:
    images, prompts = generated
    out = tmp_path / "report" / "scores.json"
    options = [f"-O{k}={v}" for k, v in image_reward_files.items()]
    result = CliRunner().invoke(cli, ["score", "--scorer", "image-reward", "--images", str(images),
                                      "--prompts", str(prompts), "--device", "cpu",
                                      "--batch-size", "4", "-o", str(out), *options])
    assert result.exit_code == 0, (result.output, result.exception)
    report = json.loads(out.read_text())
    assert report["scorer"] == "image-reward" and report["count"] == 6
    assert [p["prompt_index"] for p in report["per_prompt"]] == [0, 1, 2]
    assert report["per_prompt"][1]["prompt"] == PROMPTS[1]
    scores = [im["score"] for im in report["per_image"]]
    assert report["per_image"][3]["file"] == "p00001_i001.png"
    assert report["mean"] == pytest.approx(sum(scores) / 6)
    assert report["per_prompt"][0]["mean"] == pytest.approx((scores[0] + scores[1]) / 2)
    assert report["options"]["checkpoint"] == image_reward_files["checkpoint"]


def test_psnr_against_uncached_images(generated: tuple[Path, Path], tmp_path: Path) -> None:
    images, prompts = generated
    reference = write_images(tmp_path / "uncached", [noise_image(n) for n in range(6)], 2)
    perturbed(noise_image(5), 10).save(reference / "p00002_i001.png")
    report = _run("--scorer", "psnr", "--images", str(images), "--prompts", str(prompts),
                  "--reference", str(reference))
    scores = [im["score"] for im in report["per_image"]]
    assert scores[:5] == [100.0] * 5 and scores[5] < 100.0
    assert report["psnr_cap_db"] == 100.0 and report["per_prompt"][0]["mean"] == 100.0


def test_prompts_from_manifest(generated: tuple[Path, Path], tmp_path: Path) -> None:
    images, _ = generated
    (images / "manifest.json").write_text(json.dumps({"prompts": PROMPTS}))
    report = _run("--scorer", "ssim", "--images", str(images), "--reference", str(images))
    assert report["prompt_file"] == "manifest.json" and report["mean"] == 1.0
    other = tmp_path / "other.txt"
    other.write_text("a\nb\nc\n")
    result = CliRunner().invoke(cli, ["score", "--scorer", "ssim", "--images", str(images),
                                      "--prompts", str(other), "--reference", str(images)])
    assert isinstance(result.exception, ConfigError)
    assert "does not hold the prompts" in str(result.exception)


def test_fid_report(generated: tuple[Path, Path], inception_files: dict[str, str],
                    tmp_path: Path) -> None:
    images, prompts = generated
    reference = write_images(tmp_path / "ref", [noise_image(50 + n) for n in range(3)], 1)
    report = _run("--scorer", "fid", "--images", str(images), "--prompts", str(prompts),
                  "--reference", str(reference), "-O", f"weights={inception_files['weights']}",
                  "-O", "feature=64", "-O", f"cache_dir={tmp_path / 'cache'}")
    assert report["mean"] > 0 and report["per_image"] is None
    assert report["options"]["feature"] == 64 and report["reference_key"]


def test_usage_errors(generated: tuple[Path, Path], tmp_path: Path) -> None:
    images, prompts = generated
    runner = CliRunner()
    base = ["score", "--images", str(images), "--prompts", str(prompts)]
    result = runner.invoke(cli, [*base, "--scorer", "psnr"])
    assert result.exit_code == 2 and "needs --reference" in result.output
    result = runner.invoke(cli, [*base, "--scorer", "fid"])
    assert result.exit_code == 2 and "fid needs --reference" in result.output
    result = runner.invoke(cli, [*base, "--scorer", "psnr", "-O", "oops"])
    assert result.exit_code == 2 and "KEY=VALUE" in result.output
    empty = tmp_path / "empty"
    empty.mkdir()
    result = runner.invoke(cli, [*base, "--scorer", "psnr", "--reference", str(empty)])
    assert isinstance(result.exception, ConfigError)
    assert "6 reference images missing" in str(result.exception)
    short = tmp_path / "short.txt"
    short.write_text("only one\n")
    result = runner.invoke(cli, ["score", "--images", str(images), "--prompts", str(short),
                                 "--scorer", "ssim", "--reference", str(images)])
    assert isinstance(result.exception, ConfigError) and "past the 1" in str(result.exception)
    result = runner.invoke(cli, ["score", "--scorer", "ssim", "--images", str(empty),
                                 "--reference", str(images)])
    assert isinstance(result.exception, ConfigError) and "no images named" in str(result.exception)
