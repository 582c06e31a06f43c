"""Print the project's runtime requirements from pyproject.toml, one per line, for image builds.

    python deploy/requirements.py                 # all core dependencies
    python deploy/requirements.py --no-torch      # without the torch stack (CPU scheduler image)
    python deploy/requirements.py --torch-only    # just the torch stack
    python deploy/requirements.py --extra scoring # core dependencies plus an extra

Reading pyproject.toml keeps the images' dependency layers cacheable (they are installed before
the source is copied) without a second, drifting list of pins.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

# Needed to build pipelines, count MACs, score and write videos (av: PyAV); the search driver
# reads stored cost tables and never decodes a video.
TORCH_STACK = {
    "av",
    "torch",
    "torchvision",
    "diffusers",
    "transformers",
    "accelerate",
    "safetensors",
    "sentencepiece",
}


def requirement_name(requirement: str) -> str:
    return re.split(r"[\s\[<>=!~;]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--no-torch", action="store_true", help="leave out the torch stack")
    group.add_argument("--torch-only", action="store_true", help="only the torch stack")
    parser.add_argument("--extra", action="append", default=[], help="add an optional extra")
    parser.add_argument("--pyproject", default=Path(__file__).parent.parent / "pyproject.toml")
    args = parser.parse_args(argv)

    project = tomllib.loads(Path(args.pyproject).read_text())["project"]
    requirements = list(project["dependencies"])
    for extra in args.extra:
        requirements += project["optional-dependencies"][extra]
    for requirement in requirements:
        in_stack = requirement_name(requirement) in TORCH_STACK
        if (args.no_torch and in_stack) or (args.torch_only and not in_stack):
            continue
        print(requirement)
    return 0


if __name__ == "__main__":
    sys.exit(main())
