"""Data shipped with ECAD, as subpackages: ``specs``, ``prompts`` and ``schedules``.

The data lives in the repository's top-level ``specs/``, ``prompts/`` and ``schedules/``. A wheel
carries them as ``ecad/_data/<kind>/`` (``setup.py`` maps each directory to
``ecad._data.<kind>``); in a checkout run from source (``PYTHONPATH``), this package's search path
also covers the repository root, so ``importlib.resources.files("ecad._data.specs")`` finds the
same files either way. Read them through :mod:`ecad.resources`.
"""

from pathlib import Path

_checkout = Path(__file__).resolve().parents[2]
if (_checkout / "pyproject.toml").is_file() and (_checkout / "specs").is_dir():
    __path__.append(str(_checkout))
