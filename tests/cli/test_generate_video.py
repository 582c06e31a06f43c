"""``ecad generate`` on a video family writes playable MP4 files (H.264 yuv420p) of the asked
frames, size and rate, here with Wan 2.2's two experts and a FORA schedule made for the tiny
model."""

from __future__ import annotations

import json

import av
from click.testing import CliRunner

from ecad.cli.main import cli


def test_generate_writes_playable_videos(tmp_path):
    runner = CliRunner()
    schedule = tmp_path / "fora.json"
    made = runner.invoke(
        cli,
        [
            "schedule",
            "make",
            "fora",
            "--family",
            "wan2.2-t2v-a14b",
            "--steps",
            "7",
            "--n",
            "2",
            "--num-blocks",
            "blocks=2",
            "-o",
            str(schedule),
        ],
    )
    assert made.exit_code == 0, made.output
    out = tmp_path / "videos"
    r = runner.invoke(
        cli,
        [
            "generate",
            "--family",
            "wan2.2-t2v-a14b",
            "--weights",
            "tiny",
            "--schedule",
            str(schedule),
            "--prompt",
            "a red cube",
            "--resolution",
            "32",
            "--width",
            "48",
            "--frames",
            "5",
            "--fps",
            "8",
            "--device",
            "cpu",
            "--output-dir",
            str(out),
        ],
    )
    assert r.exit_code == 0, r.output
    assert "wrote 1 videos" in r.output
    with av.open(str(out / "p00000_i000.mp4")) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.name, stream.codec_context.pix_fmt) == ("h264", "yuv420p")
        assert (stream.width, stream.height, stream.average_rate) == (48, 32, 8)
        assert sum(1 for _ in container.decode(video=0)) == 5
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["settings"]["frames"] == 5 and manifest["settings"]["fps"] == 8
    bad = runner.invoke(
        cli,
        [
            "generate",
            "--family",
            "pixart-alpha",
            "--weights",
            "tiny",
            "--prompt",
            "x",
            "--frames",
            "5",
            "--output-dir",
            str(out),
        ],
    )
    assert bad.exit_code != 0 and "for video families" in bad.output
    one = runner.invoke(
        cli,
        ["generate", "--family", "wan2.1-t2v-1.3b", "--weights", "tiny", "--prompt", "x",
         "--guidance-2", "3", "--output-dir", str(out)],
    )
    assert one.exit_code != 0 and "--guidance-2 is for two-expert families" in one.output
