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
