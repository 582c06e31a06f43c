"""Static checks of the images: Dockerfiles, their requirement lists, the build context."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap

import pytest

from tests.deploy.compose import ROOT

DEPLOY = ROOT / "deploy"


def requirements(*args: str) -> list[str]:
    out = subprocess.run(
        [sys.executable, str(DEPLOY / "requirements.py"), *args],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.split()


def names(lines: list[str]) -> set[str]:
    return {re.split(r"[\[<>=!~;]", line, maxsplit=1)[0] for line in lines}


def test_scheduler_requirements_leave_out_the_torch_stack():
    light, heavy, everything = (
        requirements("--no-torch"),
        requirements("--torch-only"),
        requirements(),
    )
    assert {"numpy", "pymoo", "celery", "minio", "pyyaml", "click"} <= names(light)
    assert names(heavy) >= {"torch", "diffusers", "transformers"}
    assert not names(light) & names(heavy)
    assert sorted(light + heavy) == sorted(everything)
    assert names(requirements("--extra", "scoring")) >= {"image-reward", "torch-fidelity"}


@pytest.mark.parametrize("image", ["scheduler", "worker"])
def test_dockerfiles_copy_what_exists_and_run_the_compose_command(image):
    text = (DEPLOY / f"{image}.Dockerfile").read_text()
    for source in re.findall(r"^COPY (\S+) ", text, re.M):
        assert (ROOT / source).exists(), f"{image}.Dockerfile copies missing {source}"
    cmd = json.loads(re.findall(r"^CMD (.+)$", text, re.M)[-1])
    assert cmd == (
        ["ecad", "scheduler"] if image == "scheduler" else ["ecad", "worker", "--gpu", "auto"]
    )
    assert re.search(r"^USER ecad$", text, re.M), "run as an unprivileged user"
    assert re.search(r"^HEALTHCHECK .*\n?.*CMD \[\"python\", \"-m\"", text, re.M)


@pytest.mark.parametrize("image", ["scheduler", "worker"])
def test_one_pinned_slim_base_and_a_cached_dependency_layer(image):
    text = (DEPLOY / f"{image}.Dockerfile").read_text()
    bases = re.findall(r"^FROM (\S+)", text, re.M)
    # one stack: torch's own CUDA libraries on a slim Python, the tag pinned to a patch release
    assert bases == ["python:3.11.11-slim-bookworm"]
    assert "nvidia/cuda" not in text
    # the dependency layer sees only the dependency files: editing README.md or the sources
    # does not reinstall torch; pip's cache is a BuildKit cache mount
    first_install = text.index("pip install")
    copied_before = re.findall(r"^COPY (\S+)", text[:first_install], re.M)
    assert copied_before == [f"deploy/requirements-{image}.lock"]
    assert "RUN --mount=type=cache,target=/root/.cache/pip" in text[:first_install + 200]
    assert "PIP_NO_CACHE_DIR" not in text


def _lock(image: str) -> dict[str, tuple[str, list[str]]]:
    """name -> (version, hashes) of a lock file (uv pip compile --generate-hashes format)."""
    pins: dict[str, tuple[str, list[str]]] = {}
    name = None
    for line in (DEPLOY / f"requirements-{image}.lock").read_text().splitlines():
        if m := re.match(r"^([A-Za-z0-9_.\-]+)(\[[^\]]*\])?==(\S+)", line):
            name = m[1].lower().replace("_", "-").replace(".", "-")
            pins[name] = (m[3], [])
        elif name and (h := re.search(r"--hash=sha256:([0-9a-f]{64})", line)):
            pins[name][1].append(h[1])
    return pins


@pytest.mark.parametrize("image,args", [("worker", ("--extra", "scoring")),
                                        ("scheduler", ("--no-torch",))])
def test_images_install_from_a_lock_that_pins_every_requirement_with_hashes(image, args):
    from packaging.requirements import Requirement

    text = (DEPLOY / f"{image}.Dockerfile").read_text()
    assert f"pip install --require-hashes --no-deps -r deploy/requirements-{image}.lock" in text
    pins = _lock(image)
    assert pins and all(hashes for _, hashes in pins.values()), "every pin carries its hashes"
    for line in requirements(*args):  # what pyproject.toml asks for is pinned, within range
        req = Requirement(line)
        key = req.name.lower().replace("_", "-").replace(".", "-")
        assert key in pins, f"{image} lock misses {req.name}: run sh deploy/lock.sh"
        assert req.specifier.contains(pins[key][0], prereleases=True), (line, pins[key][0])
    if image == "worker":
        assert pins["torch"][0] == "2.14.1" and "image-reward" in pins
    else:  # the scheduler image is torch-free
        assert not {"torch", "diffusers", "transformers"} & set(pins)


def test_build_context_keeps_secrets_and_the_venv_out():
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".env", "**/.env", ".venv", ".git"} <= set(ignored)


def test_the_scheduler_side_imports_without_torch():
    """What `ecad scheduler` runs must import with no torch stack installed (the image's
    TORCH=none build); only the CLI entry point still pulls torch in (see the Dockerfile)."""
    code = textwrap.dedent(
        """
        import sys

        class NoTorch:
            blocked = {"torch", "torchvision", "diffusers", "transformers", "accelerate",
                       "safetensors", "sentencepiece"}

            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in self.blocked:
                    raise ImportError(f"{name} is not installed in the scheduler image")

        sys.meta_path.insert(0, NoTorch())
        import ecad.cli.cluster, ecad.store.s3, ecad.scheduler.service, ecad.worker.app  # noqa
        """
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
