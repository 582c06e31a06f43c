"""The progress bars of ``ecad generate``/``embed`` on a terminal and in a log."""

from __future__ import annotations

import re

from tests.cli.terminal import CONTROL, run_in_pipes, run_in_terminal


def _generate(out_dir) -> list[str]:
    return ["generate", "--family", "pixart-alpha", "--weights", "tiny", "--prompt", "a red fox",
            "--prompt", "a blue car", "--prompt", "a tree", "--num-images-per-prompt", "2",
            "--batch-size", "1", "--resolution", "64", "--steps", "2", "--output-dir",
            str(out_dir)]


def test_generate_draws_bars_on_a_terminal(tmp_path):
    code, screen = run_in_terminal(*_generate(tmp_path / "tty"))
    assert code == 0, screen
    assert "embedding" in screen and "3/3" in screen
    assert "generating" in screen and "6/6" in screen and "img/s" in screen
    assert len(re.findall(r"\r(?!\n)", screen)) >= 3  # redrawn in place (not just \r\n)
    assert "wrote 6 images" in screen


def test_generate_log_output_has_no_control_characters(tmp_path):
    result = run_in_pipes(*_generate(tmp_path / "log"))
    assert result.returncode == 0, result.stderr
    assert "wrote 6 images" in result.stdout
    assert "generating" in result.stderr
    assert not CONTROL.search((result.stdout + result.stderr).replace("\n", ""))
