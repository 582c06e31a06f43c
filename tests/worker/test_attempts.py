from ecad.store import FilesystemStore
from ecad.store.keys import failure_key
from ecad.worker.attempts import count_start

X = "shard-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-0000"
Y = "images-bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-0001"


def test_starts_past_the_limit_record_the_failure_once(tmp_path, monkeypatch):
    monkeypatch.setenv("ECAD_MAX_TASK_ATTEMPTS", "2")
    store = FilesystemStore(tmp_path)
    assert count_start(store, X, "w1") and count_start(store, X, "w2")
    assert not store.exists(failure_key(X))
    assert not count_start(store, X, "w3")
    failure = store.get_json(failure_key(X))
    assert failure["starts"] == 3 and failure["workers"] == ["w1", "w2", "w3"]
    assert not count_start(store, X, "w4")
    assert store.get_json(f"attempts/{X}.json")["starts"] == 3, "no start counted past it"


def test_a_failure_lost_between_two_writes_is_recorded_at_the_next_delivery(tmp_path, monkeypatch):
    monkeypatch.setenv("ECAD_MAX_TASK_ATTEMPTS", "1")
    store = FilesystemStore(tmp_path)
    assert count_start(store, Y, "w1")
    assert not count_start(store, Y, "w2")
    store.delete(failure_key(Y))  # the worker died before writing it
    assert not count_start(store, Y, "w3")
    assert store.get_json(failure_key(Y))["workers"] == ["w1", "w2"]
