"""ImageReward's ``clip`` imports without setuptools' ``pkg_resources`` (removed from newer
setuptools): the scoring extra need not pin setuptools below what torch installed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

_PROBE = """
import sys
sys.modules["pkg_resources"] = None  # as where setuptools ships no pkg_resources
from ecad.scoring.image_reward import _provide_pkg_resources_packaging
_provide_pkg_resources_packaging()
import clip  # noqa: F401  (does `from pkg_resources import packaging`)
from pkg_resources import packaging
print(packaging.version.parse("1.8.0") > packaging.version.parse("1.7.1"))
"""


def test_clip_imports_where_pkg_resources_is_missing():
    out = subprocess.run([sys.executable, "-c", _PROBE], cwd=ROOT, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "True"


def test_the_scoring_extra_pins_no_setuptools():
    import tomllib

    extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]["scoring"]
    assert not [r for r in extra if r.startswith("setuptools")]
