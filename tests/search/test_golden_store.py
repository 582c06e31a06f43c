"""A search's stored objects are pinned: the same bytes (wall-clock times aside) as the code that
wrote ``golden_store.json`` left behind (see :mod:`tests.search.golden_store`). A refactor of the
search must pass this unchanged; a deliberate change of the stored form regenerates the file
(``python -m tests.search.golden_store``) and says why in its commit."""

from __future__ import annotations

import json

import pytest

from tests.search.golden_store import GOLDEN, VARIANTS, run_variant


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_stored_objects_are_those_of_the_golden_run(tmp_path, variant):
    expected = json.loads(GOLDEN.read_text())[variant]
    found = run_variant(variant, tmp_path / variant)
    assert sorted(found) == sorted(expected), "other keys stored"
    changed = sorted(k for k in expected if found[k] != expected[k])
    assert not changed, f"{len(changed)} objects differ, e.g. {changed[:5]}"
