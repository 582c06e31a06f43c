import pytest

from ecad.store import FilesystemStore, open_store
from tests.store.suite import StoreContract


class TestFilesystemStore(StoreContract):
    @pytest.fixture
    def store(self, tmp_path):
        return FilesystemStore(tmp_path / "store")


def test_open_store_urls(tmp_path):
    assert isinstance(open_store(str(tmp_path)), FilesystemStore)
    assert open_store(f"file://{tmp_path}").root == tmp_path.resolve()


def test_no_partial_files_visible(tmp_path):
    store = FilesystemStore(tmp_path)
    store.put("x/y.bin", b"1" * 1000)
    assert [p.name for p in (tmp_path / "x").iterdir()] == ["y.bin"]


def test_listing_walks_only_directories_under_the_prefix(tmp_path, monkeypatch):
    import os

    store = FilesystemStore(tmp_path)
    for i in range(3):
        store.put(f"images/g{i}/p{i}.png", b"")
    store.put("searches/s/state.json", b"{}")
    visited = []
    real_walk = os.walk

    def walk(top, *args, **kwargs):
        for entry in real_walk(top, *args, **kwargs):
            visited.append(os.path.relpath(entry[0], tmp_path))
            yield entry

    monkeypatch.setattr("ecad.store.filesystem.os.walk", walk)
    assert list(store.list("failures/")) == []
    assert visited == []  # a missing prefix walks nothing (not the whole store)
    assert list(store.list("searches/")) == ["searches/s/state.json"]
    assert not any(v.startswith("images") for v in visited)
