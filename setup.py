"""Package layout for setuptools (the project's metadata is in pyproject.toml).

The shipped data stays in the repository's top-level ``specs/``, ``prompts/`` and ``schedules/``
and is installed inside the package as ``ecad/_data/<kind>/`` (read with importlib.resources
through ``ecad.resources``), so a wheel carries it and works outside any checkout.
"""

from setuptools import find_packages, setup

DATA = {
    "specs": ["*.yaml", "*.yml", "paper/*.yaml"],
    "prompts": ["*.txt", "*.json", "*.tsv", "*.md"],
    "schedules": ["*.json", "*/*.json", "*.md"],
}

setup(
    packages=[
        # The cluster's Celery worker and search scheduler are ecad.worker and ecad.scheduler:
        # no top-level `worker`/`scheduler` package to collide with another distribution's.
        *find_packages(include=["ecad", "ecad.*"]),
        *(f"ecad._data.{kind}" for kind in DATA),
    ],
    package_dir={f"ecad._data.{kind}": kind for kind in DATA},
    package_data={f"ecad._data.{kind}": patterns for kind, patterns in DATA.items()},
)
