"""The built wheel, installed into a fresh virtualenv outside the repository, carries the shipped
specs, prompt sets and schedules, the ``ecad`` entry point and ``python -m ecad``.

To stay quick and offline, the fresh venv gets the wheel with ``--no-deps`` and sees the
dependencies (torch, diffusers, ...) through a one-line ``.pth`` naming the test interpreter's
site-packages directory. A plain path line adds that directory to ``sys.path`` after the venv's
own site-packages and runs none of the ``.pth`` files inside it, so an editable install of this
checkout there stays inactive: the test asserts that ``ecad`` is imported from the new venv and
that every shipped file is read from there.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def venv(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("wheel")
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(tmp / "dist"), str(ROOT)],
        capture_output=True, text=True, timeout=300, cwd=tmp)
    assert build.returncode == 0, build.stderr
    wheel = next((tmp / "dist").glob("ecad_cluster-*.whl"))
    env_dir = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env_dir)], check=True)
    python = env_dir / "bin" / "python"
    site = Path(subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()"
                                "['purelib'])"], capture_output=True, text=True,
                               check=True).stdout.strip())
    install = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
         "--ignore-installed", "-q", str(wheel)], capture_output=True, text=True, timeout=300)
    assert install.returncode == 0, install.stderr
    assert (site / "ecad" / "__init__.py").is_file() and (env_dir / "bin" / "ecad").is_file()
    # the cluster's packages live inside the ecad namespace: nothing to collide with
    assert (site / "ecad" / "worker" / "tasks.py").is_file()
    assert (site / "ecad" / "scheduler" / "service.py").is_file()
    assert not (site / "worker").exists() and not (site / "scheduler").exists()
    # after the install, so that pip does not see this checkout's editable install as installed
    (site / "_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return env_dir


def run(venv: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(HF_HUB_OFFLINE="1", ECAD_CACHE_DIR=str(cwd / "cache"), ECAD_DEVICE="cpu",
               PATH=f"{venv / 'bin'}:{env['PATH']}")
    out = subprocess.run(list(args), cwd=cwd, env=env, capture_output=True, text=True,
                         timeout=900)
    assert out.returncode == 0, f"{args}: {out.stdout[-2000:]}\n{out.stderr[-3000:]}"
    return out


def test_the_wheel_imports_from_the_venv_with_its_data(venv, tmp_path):
    out = run(venv, "python", "-c", "import ecad, ecad.resources as r, json; print(json.dumps("
              "{'ecad': ecad.__file__, 'specs': str(r.data_dir('specs')), "
              "'names': {k: list(r.shipped(k)) for k in r.DATA_KINDS}}))", cwd=tmp_path)
    found = json.loads(out.stdout)
    assert found["ecad"].startswith(str(venv)) and found["specs"].startswith(str(venv))
    assert not found["ecad"].startswith(str(ROOT))
    assert {"tiny", "pixart-alpha-256"} <= set(found["names"]["specs"])
    assert "calibration-100" in found["names"]["prompts"]
    assert "pixart-alpha/fora-2" in found["names"]["schedules"]


def test_python_m_ecad_and_schedule_show_on_a_shipped_baseline(venv, tmp_path):
    assert "ECAD: learn and apply caching schedules" in run(
        venv, "python", "-m", "ecad", "--help", cwd=tmp_path).stdout
    shown = run(venv, "ecad", "schedule", "show", "pixart-alpha/fora-2", cwd=tmp_path).stdout
    assert shown.startswith("fora-2  [pixart-alpha (28 blocks), 20 steps")


def test_ecad_search_with_a_named_spec_and_a_named_prompt_set(venv, tmp_path):
    out = run(venv, "ecad", "--store", str(tmp_path / "store"), "search", "tiny",
              "prompts.file=calibration-100", "prompts.limit=2", "population=4", "generations=1",
              "steps=4", "shard_size=2", "min_diff=1", cwd=tmp_path)
    assert "search id:" in out.stdout
    spec = next((tmp_path / "store" / "searches").glob("*/spec.json"))
    prompts = json.loads(spec.read_text())["prompts"]
    assert prompts["file"].startswith(str(venv)) and prompts["file"].endswith(
        "ecad/_data/prompts/calibration-100.txt")
    assert len(prompts["texts"]) == 2


def _readme_block(after: str) -> str:
    text = (ROOT / "README.md").read_text()
    return text.split(after, 1)[1].split("```bash\n", 1)[1].split("```", 1)[0]


def test_the_readme_quick_start_runs_from_the_wheel_as_written(venv, tmp_path):
    import shlex

    block = _readme_block("From the installed package")
    lines = [line for line in block.splitlines() if line.strip()]
    assert lines and all(line.startswith("ecad ") for line in lines), lines
    outputs = [run(venv, *shlex.split(line), cwd=tmp_path).stdout for line in lines]
    assert "search id: tiny-pixart-alpha-" in outputs[0]
    # the id the README names is the one the search printed: ids do not depend on the install
    assert outputs[0].split("search id: ")[1].split()[0] in lines[1]
    snippet = outputs[1].split("apply one to a pipeline (Python):\n")[1]
    applied = run(venv, "python", "-c", snippet + "\nprint(len(images))", cwd=tmp_path)
    assert applied.stdout.strip().endswith("1")


def test_a_spec_gets_the_same_search_id_from_the_wheel_and_the_checkout(venv, tmp_path):
    args = ["validate", "tiny", "--json"]
    from_wheel = json.loads(run(venv, "ecad", *args, cwd=tmp_path).stdout)["search_id"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    checkout = subprocess.run([sys.executable, "-m", "ecad", *args], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=300)
    assert checkout.returncode == 0, checkout.stderr
    assert json.loads(checkout.stdout)["search_id"] == from_wheel
