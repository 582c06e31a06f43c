"""A scorer's optional packages are checked before a search starts, in one line naming the
extra to install."""

from __future__ import annotations

import sys

import pytest

from ecad.scoring.errors import MissingDependencyError
from ecad.scoring.registry import NEEDS, SCORERS, check_installed


def test_every_need_names_a_registered_scorer():
    assert set(NEEDS) <= set(SCORERS)


def test_a_missing_package_is_one_line_naming_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch_fidelity", None)
    with pytest.raises(MissingDependencyError) as info:
        check_installed("fid")
    assert str(info.value) == ("scorer 'fid' needs torch-fidelity, not installed here: "
                               "pip install 'ecad-cluster[scoring]'")


def test_scorers_without_optional_packages_pass(monkeypatch):
    monkeypatch.setitem(sys.modules, "torchmetrics", None)
    check_installed("psnr")
    check_installed("clip-score")
