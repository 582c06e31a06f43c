"""Finished searches shared by the report tests: a tiny one (2 generations after the initial
one) on the model, and a pruned one whose scores are known in advance (no model)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from ecad.search import SearchSession, load_spec, run_search
from ecad.store import FilesystemStore
from tests.search.conftest import write_spec
from tests.search.known_scores import pruning_spec, run_known


@dataclass(frozen=True)
class FinishedSearch:
    store_dir: Path
    search_id: str

    def session(self) -> SearchSession:
        return SearchSession.open(FilesystemStore(self.store_dir), self.search_id)


@pytest.fixture(scope="package")
def finished_search(tmp_path_factory: pytest.TempPathFactory) -> FinishedSearch:
    root = tmp_path_factory.mktemp("report-search")
    spec = load_spec(write_spec(root, generations=2))
    session = run_search(FilesystemStore(root / "store"), spec, progress=lambda _: None)
    return FinishedSearch(root / "store", session.search_id)


@pytest.fixture(scope="package")
def pruned_search(tmp_path_factory: pytest.TempPathFactory) -> FinishedSearch:
    """A search with pruning on that stops candidates in every generation after the first."""
    root = tmp_path_factory.mktemp("report-pruned-search")
    session, _ = run_known(FilesystemStore(root / "store"), pruning_spec(root, pruning=True))
    return FinishedSearch(root / "store", session.search_id)
