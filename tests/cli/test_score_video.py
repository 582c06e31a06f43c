"""``ecad score`` on the MP4 videos ``ecad generate`` writes for a video family: every frame
scored, a video's score the mean over its frames, against the uncached videos of the same
prompts and seeds; what cannot be scored is refused naming the file or scorer."""

from __future__ import annotations

import json
import shutil

import pytest
from click.testing import CliRunner

from ecad.cli.errors import EXIT_USAGE, run_cli
from ecad.cli.main import cli

FAMILY = "wan2.1-t2v-1.3b"
SIZE = ["--resolution", "32", "--width", "48", "--fps", "8", "--device", "cpu"]


def _generate(runner, out, frames=5, schedule=None):
    args = ["generate", "--family", FAMILY, "--weights", "tiny", "--steps", "4",
            "--prompt", "a red cube", "--prompt", "two cats on a sofa", "--frames", str(frames),
            *SIZE, "--output-dir", str(out)]
    if schedule is not None:
        args += ["--schedule", str(schedule)]
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    root = tmp_path_factory.mktemp("score-video")
    runner = CliRunner()
    schedule = root / "fora.json"
    made = runner.invoke(cli, ["schedule", "make", "fora", "--family", FAMILY, "--steps", "4",
                               "--n", "2", "--num-blocks", "blocks=2", "-o", str(schedule)])
    assert made.exit_code == 0, made.output
    return {
        "plain": _generate(runner, root / "plain"),
        "fora": _generate(runner, root / "fora", schedule=schedule),
        "short": _generate(runner, root / "short", frames=9),
    }


def _score(*args):
    return CliRunner().invoke(cli, ["score", "--device", "cpu", *args])


def test_a_video_scored_against_itself_is_perfect_per_video(videos):
    result = _score("--scorer", "psnr", "--images", str(videos["plain"]),
                    "--reference", str(videos["plain"]))
    assert result.exit_code == 0, result.output
    report = json.loads(result.output[result.output.index("{"):])
    assert report["count"] == 2 and "mean of its frames" in report["unit"]
    assert [r["file"] for r in report["per_image"]] == ["p00000_i000.mp4", "p00001_i000.mp4"]
    assert all(r["score"] == report["psnr_cap_db"] for r in report["per_image"])


def test_a_cached_video_scores_below_the_uncached_one(videos, tmp_path):
    out = tmp_path / "ssim.json"
    result = _score("--scorer", "ssim", "--images", str(videos["fora"]),
                    "--reference", str(videos["plain"]), "-o", str(out))
    assert result.exit_code == 0, result.output
    assert "over 2 videos" in result.output
    report = json.loads(out.read_text())
    scores = [r["score"] for r in report["per_image"]]
    assert all(0 < s < 1 for s in scores)  # FORA-2 changed every video, a little
    assert report["mean"] == pytest.approx(sum(scores) / 2)
    assert [p["prompt"] for p in report["per_prompt"]] == ["a red cube", "two cats on a sofa"]


def test_what_cannot_be_scored_is_refused_naming_it(videos, tmp_path, capsys):
    def refused(images, reference, scorer="ssim"):
        code = run_cli(cli, ["score", "--device", "cpu", "--scorer", scorer,
                             "--images", str(images), "--reference", str(reference)])
        assert code == EXIT_USAGE
        return capsys.readouterr().err

    err = refused(videos["fora"], videos["plain"], scorer="fid")
    assert "holds videos: fid scores image sets" in err
    err = refused(videos["fora"], videos["short"])
    assert "p00000_i000.mp4: 5 frames of 48x32" in err and "has 9 of 48x32" in err
    mixed = tmp_path / "mixed"
    shutil.copytree(videos["plain"], mixed)
    (mixed / "p00002_i000.png").write_bytes(b"")
    assert "both PNG images and MP4 videos" in refused(mixed, mixed)
    broken = tmp_path / "broken"
    shutil.copytree(videos["plain"], broken)
    (broken / "p00001_i000.mp4").write_bytes(b"not a video")
    assert "p00001_i000.mp4: not a readable video" in refused(broken, videos["plain"])
