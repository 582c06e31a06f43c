"""The store contract, run against every backend (see tests/store/test_*.py)."""

from __future__ import annotations

import pytest

from ecad.errors import ConfigError
from ecad.store import MissingObjectError, ObjectStore


class StoreContract:
    """Subclasses provide a ``store`` fixture yielding an empty store."""

    def test_put_get_exists(self, store: ObjectStore):
        assert not store.exists("a/b.bin")
        store.put("a/b.bin", b"\x00\x01payload")
        assert store.exists("a/b.bin")
        assert store.get("a/b.bin") == b"\x00\x01payload"
        store.put("a/b.bin", b"new")
        assert store.get("a/b.bin") == b"new"

    def test_missing(self, store: ObjectStore):
        with pytest.raises(MissingObjectError):
            store.get("nope/x.json")
        with pytest.raises(KeyError):
            store.get("nope/y.json")

    def test_list_sorted_with_prefix(self, store: ObjectStore):
        for key in ("s/2.json", "s/1.json", "s/sub/3.json", "t/4.json"):
            store.put(key, b"{}")
        assert list(store.list("s/")) == ["s/1.json", "s/2.json", "s/sub/3.json"]
        assert list(store.list("t/")) == ["t/4.json"]
        assert list(store.list("none/")) == []

    def test_list_partial_names_and_nested_prefixes(self, store: ObjectStore):
        for key in ("images/ab/shard-0000.json", "images/ab/p1.png", "images/ac/p1.png",
                    "imagery/x.json", "scores/ab/shard-0000.json"):
            store.put(key, b"{}")
        assert list(store.list("image")) == [
            "imagery/x.json", "images/ab/p1.png", "images/ab/shard-0000.json", "images/ac/p1.png"]
        assert list(store.list("images/ab/sh")) == ["images/ab/shard-0000.json"]
        assert list(store.list("images/a")) == [
            "images/ab/p1.png", "images/ab/shard-0000.json", "images/ac/p1.png"]
        assert list(store.list("failures/")) == []
        assert list(store.list("images/zz/")) == []

    def test_json_and_delete(self, store: ObjectStore):
        store.put_json("j/v.json", {"x": [1, 2], "y": "z"})
        assert store.get_json("j/v.json") == {"x": [1, 2], "y": "z"}
        store.delete("j/v.json")
        store.delete("j/v.json")
        assert not store.exists("j/v.json")

    def test_keys_are_validated(self, store: ObjectStore):
        for bad in ("../x", "/abs", "a//b", "a/./b", "sp ace"):
            with pytest.raises(ConfigError):
                store.put(bad, b"")

    def test_large_object(self, store: ObjectStore):
        blob = bytes(range(256)) * 40_000
        store.put("big/blob.bin", blob)
        assert store.get("big/blob.bin") == blob
