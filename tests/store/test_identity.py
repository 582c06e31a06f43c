"""The store's identity: written once, read back, validated."""

import pytest

from ecad.store import FilesystemStore
from ecad.store.identity import ensure_store_identity, store_identity
from ecad.store.keys import store_identity_key
from ecad.store.records import StoreObjectError


def test_identity_is_written_once_and_kept(tmp_path):
    store = FilesystemStore(tmp_path / "s")
    assert store_identity(store) is None
    first = ensure_store_identity(store)
    assert len(first) == 32 and ensure_store_identity(store) == first == store_identity(store)
    assert ensure_store_identity(FilesystemStore(tmp_path / "other")) != first


def test_an_unreadable_identity_is_an_error_naming_the_key(tmp_path):
    store = FilesystemStore(tmp_path / "s")
    store.put(store_identity_key(), b'{"id": "nope"}')
    with pytest.raises(StoreObjectError, match=r"store\.json"):
        ensure_store_identity(store)
