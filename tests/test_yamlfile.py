"""The bounded YAML reader: size and alias-expansion limits, ordinary YAML unchanged."""

from __future__ import annotations

import pytest

from ecad.errors import ConfigError
from ecad.yamlfile import load_yaml, read_yaml


def _bomb(levels: int, width: int = 9) -> str:
    lines = [f"a0: &a0 [{', '.join(['x'] * width)}]"]
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]")
    return "\n".join(lines)


def test_ordinary_yaml_with_anchors_and_merge_keys():
    text = "base: &b {x: 1, y: [1, 2]}\nother: {<<: *b, z: 3}\nsame: *b\n"
    data = load_yaml(text)
    assert data["other"] == {"x": 1, "y": [1, 2], "z": 3} and data["same"] == data["base"]
    assert load_yaml("") is None and load_yaml("3") == 3


def test_expansion_is_counted_not_performed():
    # four levels of 9: 1 + 9 + 81 + 729 + 6561 nodes per top value -- under the limit
    assert len(load_yaml(_bomb(4))["a3"]) == 9
    with pytest.raises(ConfigError, match="expands to more than 1000 nodes"):
        load_yaml(_bomb(4), "s.yaml", max_nodes=1000)
    with pytest.raises(ConfigError, match=r"^s\.yaml: the YAML expands"):
        load_yaml(_bomb(30, width=2), "s.yaml")  # 2**30 nodes


@pytest.mark.parametrize(
    "text, problem",
    [
        ("&a [*a]", "refers to its own anchor"),
        ("&a {k: *a}", "refers to its own anchor"),
        ("[" * 3000, "nested too deeply"),
        ("x: 1" + "0" * 5000, "bad YAML value"),
        ("{[1]: 2}", "not valid YAML"),
        ("a: !!python/object:os.system {}", "not valid YAML"),
        ("a: [1\nb: 2", "not valid YAML"),
    ],
)
def test_refused_documents_name_the_source(text, problem):
    with pytest.raises(ConfigError, match=problem) as info:
        load_yaml(text, "spec.yaml")
    assert str(info.value).startswith("spec.yaml: ")


def test_read_yaml_limits(tmp_path):
    big = tmp_path / "big.yaml"
    big.write_bytes(b"a: 1\n" * 300)
    with pytest.raises(ConfigError, match="larger than 1000 bytes"):
        read_yaml(big, max_bytes=1000)
    assert read_yaml(big, max_bytes=2000) == {"a": 1}
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(b"a: \xff\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: config is not UTF-8 text \(byte 0xff"):
        read_yaml(bad, "config")
    with pytest.raises(ConfigError, match="cannot read config"):
        read_yaml(tmp_path / "missing.yaml", "config")
    bom = tmp_path / "bom.yaml"
    bom.write_bytes("\ufeffa: 2\n".encode())
    assert read_yaml(bom) == {"a": 2}
