"""The store contract against a real HTTP S3 endpoint (moto's server), plus outages and config."""

from __future__ import annotations

import os
import threading
import time

import pytest

from ecad.errors import ConfigError, TransientError
from ecad.store import MissingObjectError, open_store
from ecad.store.s3 import S3Store
from tests.fixtures.s3 import S3Endpoint, s3_endpoint, unique_bucket
from tests.store.suite import StoreContract

__all__ = ["s3_endpoint"]  # the fixture, imported for pytest


def make_store(endpoint: S3Endpoint, via: str | None = None, **options) -> S3Store:
    return S3Store(
        via or endpoint.endpoint,
        endpoint.access_key,
        endpoint.secret_key,
        options.pop("bucket", None) or unique_bucket(),
        region="us-east-1",
        **options,
    )


class TestS3Store(StoreContract):
    @pytest.fixture
    def store(self, s3_endpoint):
        return make_store(s3_endpoint)


def test_listing_spans_pages_and_resumes_after_an_outage(s3_endpoint, caplog):
    direct = make_store(s3_endpoint)
    keys = [f"p/{i:04d}" for i in range(1001)]  # more than one 1000-key page
    for key in keys:
        direct.put(key, b"")
    with s3_endpoint.proxy() as proxy:
        store = make_store(s3_endpoint, via=proxy.endpoint, bucket=direct.bucket)
        listing = store.list("p/")
        first_page = [next(listing) for _ in range(1000)]
        proxy.pause_for(0.5, "drop")  # the second page is fetched during the outage
        assert first_page + list(listing) == keys
    assert any("list of key 'p/*' failed" in r.getMessage() for r in caplog.records)


def test_from_env_and_open_store(s3_endpoint, monkeypatch):
    bucket = unique_bucket()
    for name, value in s3_endpoint.env(bucket="unused-default").items():
        monkeypatch.setenv(name, value)
    store = open_store(f"s3://{bucket}")
    assert isinstance(store, S3Store) and store.bucket == bucket
    store.put("x/y.bin", b"1")
    assert S3Store.from_env().bucket == "unused-default"
    assert open_store(f"s3://{bucket}").get("x/y.bin") == b"1"
    assert store.describe() == f"s3://{bucket} at http://{s3_endpoint.endpoint}"


@pytest.mark.parametrize(
    "missing", ["ECAD_S3_ENDPOINT", "ECAD_S3_ACCESS_KEY", "ECAD_S3_SECRET_KEY"]
)
def test_missing_variable_is_named(s3_endpoint, missing):
    env = s3_endpoint.env()
    del env[missing]
    with pytest.raises(ConfigError, match=missing):
        S3Store.from_env(env=env)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ECAD_S3_SECURE", "maybe"),
        ("ECAD_S3_CREATE_BUCKET", "2"),
        ("ECAD_S3_TIMEOUT", "0"),
        ("ECAD_S3_RETRY_SECONDS", "soon"),
        ("ECAD_S3_ENDPOINT", "http://localhost:9000"),
        ("ECAD_S3_BUCKET", "Not_A_Bucket"),
    ],
)
def test_bad_variable_is_named(s3_endpoint, name, value):
    env = s3_endpoint.env(**{name: value})
    with pytest.raises(ConfigError, match=name):
        S3Store.from_env(env=env)


def test_bucket_not_created_when_disallowed(s3_endpoint):
    bucket = unique_bucket()
    env = s3_endpoint.env(bucket=bucket, ECAD_S3_CREATE_BUCKET="0")
    with pytest.raises(ConfigError, match="ECAD_S3_CREATE_BUCKET"):
        S3Store.from_env(env=env)
    make_store(s3_endpoint, bucket=bucket)  # creates it
    assert S3Store.from_env(env=env).bucket == bucket


def test_outage_is_retried_until_the_endpoint_returns(s3_endpoint):
    with s3_endpoint.proxy() as proxy:
        store = make_store(s3_endpoint, via=proxy.endpoint, retry_seconds=20)
        store.put("a/before.bin", b"before")
        for mode in ("refuse", "drop"):
            start = time.monotonic()
            proxy.pause_for(1.0, mode)
            store.put(f"a/{mode}.bin", mode.encode())
            assert time.monotonic() - start >= 0.9
            start = time.monotonic()
            proxy.pause_for(0.6, mode)
            assert store.get("a/before.bin") == b"before"
            assert f"a/{mode}.bin" in list(store.list("a/"))
            assert time.monotonic() - start >= 0.5
        assert list(store.list("a/")) == ["a/before.bin", "a/drop.bin", "a/refuse.bin"]


def test_slowdown_is_retried(s3_endpoint):
    with s3_endpoint.proxy() as proxy:
        store = make_store(s3_endpoint, via=proxy.endpoint, retry_seconds=20)
        store.put("k.bin", b"v")
        proxy.pause_for(1.0, "slowdown")
        assert store.get("k.bin") == b"v"
        assert store.exists("k.bin")


def test_outage_past_the_budget_raises_transient_error(s3_endpoint):
    with s3_endpoint.proxy() as proxy:
        store = make_store(s3_endpoint, via=proxy.endpoint, retry_seconds=1.0)
        proxy.pause("refuse")
        start = time.monotonic()
        with pytest.raises(TransientError) as info:
            store.put("runs/r1.json", b"{}")
        assert 1.0 <= time.monotonic() - start < 3.0
        assert proxy.endpoint in str(info.value) and "runs/r1.json" in str(info.value)
        proxy.pause("slowdown")
        with pytest.raises(TransientError, match="SlowDown"):
            store.get("runs/r1.json")
        proxy.resume()
        with pytest.raises(MissingObjectError):
            store.get("runs/r1.json")


def test_hung_server_times_out_then_raises(s3_endpoint):
    with s3_endpoint.proxy() as proxy:
        store = make_store(s3_endpoint, via=proxy.endpoint, timeout=0.3, retry_seconds=1.0)
        proxy.pause("hang")
        start = time.monotonic()
        with pytest.raises(TransientError, match=r"k\.bin"):
            store.exists("k.bin")
        assert time.monotonic() - start < 3.0


def test_store_is_usable_from_threads(s3_endpoint):
    store = make_store(s3_endpoint)
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            for j in range(10):
                store.put(f"t/{i}/{j}.bin", bytes([i, j]))
                assert store.get(f"t/{i}/{j}.bin") == bytes([i, j])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert len(list(store.list("t/"))) == 40


def test_store_made_before_fork_works_in_the_child(s3_endpoint):
    store = make_store(s3_endpoint)
    store.put("f/parent.bin", b"p")  # the parent's pool now holds a connection
    pid = os.fork()
    if pid == 0:  # child: must open its own connections, not share the parent's
        code = 1
        try:
            store.put("f/child.bin", store.get("f/parent.bin") + b"c")
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert store.get("f/child.bin") == b"pc"


def test_https_against_a_plain_http_endpoint_fails_fast(s3_endpoint):
    start = time.monotonic()
    with pytest.raises(ConfigError, match="ECAD_S3_SECURE"):
        make_store(s3_endpoint, secure=True, retry_seconds=30)
    assert time.monotonic() - start < 5
