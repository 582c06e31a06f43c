"""``ecad family derive / show / list`` and ``--family FILE`` on the commands that take one."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

from click.testing import CliRunner

from ecad.cli.main import cli
from ecad.schedules import read_schedule


def test_derive_show_list_and_a_family_file_elsewhere(tmp_path, derived_family, monkeypatch):
    directory, _, _ = derived_family("ChromaPipeline")
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    r = runner.invoke(cli, ["family", "derive", str(directory), "--name", "chroma-tiny"])
    assert r.exit_code == 0, r.output
    record = tmp_path / "families" / "chroma-tiny.yaml"
    assert f"wrote {record.relative_to(tmp_path)}" in r.output and record.is_file()
    assert "attn:joint_attention" in r.output and "single_proj_out:mlp" in r.output
    again = runner.invoke(cli, ["family", "derive", str(directory), "--name", "chroma-tiny"])
    assert again.exit_code != 0 and "--force" in again.output

    r = runner.invoke(cli, ["family", "show", "families/chroma-tiny.yaml", "--json"])
    assert r.exit_code == 0, r.output
    info = json.loads(r.output)
    assert info["derived"] and info["family"].startswith("chroma-tiny@")
    groups = {g["name"]: [c["role"] for c in g["components"]] for g in info["block_groups"]}
    assert groups == {"blocks": ["joint_attention", "mlp", "mlp"],
                      "single": ["mlp", "mlp", "self_attention"]}
    macs = info["macs_per_step"]
    assert 0 < macs["macs-linear"] < macs["macs"] and 0 < macs["macs_cacheable"] < macs["macs"]

    (tmp_path / "families" / "broken.yaml").write_text("version: 1\nname: x\n")
    r = runner.invoke(cli, ["family", "list"])
    assert r.exit_code == 0, r.output
    assert info["family"] in r.output and "pixart-alpha" in r.output
    assert "skipped families/broken.yaml" in r.output

    out = tmp_path / "fora.json"
    r = runner.invoke(cli, ["schedule", "make", "fora", "--family", "families/chroma-tiny.yaml",
                            "--steps", "4", "--n", "2", "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert read_schedule(out, family="families/chroma-tiny.yaml").layout.family_name == (
        info["family"])


def test_derive_names_what_it_cannot_use(tmp_path):
    r = CliRunner().invoke(cli, ["family", "derive", "NoSuchTransformer2DModel",
                                 "-o", str(tmp_path / "x.yaml")])
    assert r.exit_code != 0
    assert "'NoSuchTransformer2DModel' is not a diffusers transformer class" in str(r.exception)
    r = CliRunner().invoke(cli, ["schedule", "make", "fora", "--family", "nope.yaml", "-o",
                                 str(tmp_path / "s.json")])
    assert r.exit_code != 0 and "family file nope.yaml not found" in r.output


def test_family_list_imports_no_torch(tmp_path, derived_family):
    """The list command reads record files only (``ecad``'s entry point itself imports torch
    through other command modules; this checks the family group's own code)."""
    code = ("import sys; from ecad.cli.family import family; "
            "family.main(['list', '--dir', sys.argv[1]], standalone_mode=False); "
            "assert 'torch' not in sys.modules, 'torch imported'")
    _, record, family = derived_family("SanaPipeline")
    shutil.copy(record, tmp_path / "sana.yaml")
    listed = subprocess.run([sys.executable, "-c", code, str(tmp_path)], check=True,
                            capture_output=True, text=True)
    assert family.name in listed.stdout
