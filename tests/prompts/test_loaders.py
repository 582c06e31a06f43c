"""Prompt loaders: the reference files of each format, the shipped sets, malformed inputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ecad.errors import ConfigError
from ecad.prompts import PromptSet, load_prompts
from tests.conftest import REPO_ROOT


def test_drawbench_text(reference_dir: Path) -> None:
    ps = load_prompts(reference_dir / "prompts" / "DrawBench200.txt")
    assert len(ps) == 200 and ps.ids is None
    assert ps.prompts[0] == "A red colored car."
    assert all(q == q.strip() and q for q in ps.prompts)


def test_image_reward_json(reference_dir: Path) -> None:
    ps = load_prompts(reference_dir / "prompts" / "ImageRewardPrompts.json")
    assert len(ps) == 100
    assert ps.ids is not None and ps.ids[0] == "005695-0057"
    assert ps.prompts[0] == "a concept art of a vehicle, cyberpunk"


def test_parti_prompts_tsv(reference_dir: Path) -> None:
    ps = load_prompts(reference_dir / "prompts" / "PartiPrompts.tsv")
    assert len(ps) == 1632
    assert ps.prompts[:2] == ("bond", "element")


def test_shipped_sets() -> None:
    calibration = load_prompts(REPO_ROOT / "prompts" / "calibration-100.txt", duplicates="error")
    qualitative = load_prompts(REPO_ROOT / "prompts" / "qualitative.txt", duplicates="error")
    assert len(calibration) == 100
    assert 4 <= len(qualitative) <= 16
    assert set(qualitative.prompts) <= set(calibration.prompts)
    assert (REPO_ROOT / "prompts" / "README.md").read_text().count("Provenance")


def test_digest_depends_on_prompts_and_order_only(tmp_path: Path) -> None:
    a = tmp_path / "a.txt"
    a.write_text("a cat\na dog\n")
    b = tmp_path / "b.json"
    b.write_text(json.dumps([{"id": "x", "prompt": "a cat"}, {"id": "y", "prompt": "a dog"}]))
    assert load_prompts(a).digest() == load_prompts(b).digest()
    assert PromptSet(("a dog", "a cat")).digest() != load_prompts(a).digest()


def test_blank_lines_bom_and_crlf(tmp_path: Path) -> None:
    f = tmp_path / "p.txt"
    f.write_bytes("\ufeffa cat\r\n\r\n  a dog  \r\n".encode())
    assert load_prompts(f).prompts == ("a cat", "a dog")


def test_duplicates_dropped_with_count(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    f = tmp_path / "p.json"
    f.write_text(json.dumps([{"id": 1, "prompt": "a cat"}, {"id": 2, "prompt": "a dog"},
                             {"id": 3, "prompt": " a cat"}]))
    ps = load_prompts(f)
    assert ps.prompts == ("a cat", "a dog") and ps.ids == ("1", "2")
    assert ps.duplicates_removed == 1
    assert "dropped 1 duplicate" in caplog.text
    assert load_prompts(f, duplicates="keep").prompts == ("a cat", "a dog", "a cat")
    with pytest.raises(ConfigError, match="1 duplicate prompt"):
        load_prompts(f, duplicates="error")


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.txt", "", "no prompts found"),
        ("blank.txt", "\n   \n\t\n", "no prompts found"),
        ("same.txt", "a cat\na cat\n a cat\n", "all 3 prompts are the same"),
        ("bad.json", "[{\"prompt\": \"a\"},", "invalid JSON"),
        ("obj.json", "{\"prompt\": \"a\"}", "expected a JSON list"),
        ("noprompt.json", "[{\"id\": 1, \"text\": \"a\"}]", "item 0 has no string field"),
        ("empty.json", "[]", "no prompts found"),
        ("nocol.tsv", "Text\tCategory\na\tb\n", "needs a 'Prompt' column"),
        ("header.tsv", "Prompt\tCategory\n", "no prompts found"),
    ],
)
def test_malformed_files(tmp_path: Path, name: str, content: str, message: str) -> None:
    f = tmp_path / name
    f.write_text(content)
    with pytest.raises(ConfigError, match=message) as info:
        load_prompts(f)
    assert str(f) in str(info.value)


def test_unreadable_files(tmp_path: Path) -> None:
    binary = tmp_path / "image.txt"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe\x00")
    with pytest.raises(ConfigError, match="cannot read prompt file"):
        load_prompts(binary)
    with pytest.raises(ConfigError, match="cannot read prompt file"):
        load_prompts(tmp_path / "missing.txt")
    with pytest.raises(ConfigError, match="cannot read prompt file"):
        load_prompts(tmp_path)


def test_unknown_format_and_policy(tmp_path: Path) -> None:
    f = tmp_path / "p.txt"
    f.write_text("a cat\n")
    with pytest.raises(ConfigError, match="choose one of"):
        load_prompts(f, fmt="yaml")
    with pytest.raises(ConfigError, match="choose one of"):
        load_prompts(f, duplicates="merge")
