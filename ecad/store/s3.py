"""Object store on an S3 endpoint (MinIO in the cluster), through the ``minio`` client.

Configured from the environment by :meth:`S3Store.from_env` (see ``deploy/.env.example``):

========================  ===========================================================
``ECAD_S3_ENDPOINT``      ``host:port`` of the S3 server, no scheme (required)
``ECAD_S3_ACCESS_KEY``    access key (required)
``ECAD_S3_SECRET_KEY``    secret key (required)
``ECAD_S3_BUCKET``        bucket (default ``ecad``; ``s3://bucket`` URLs override it)
``ECAD_S3_SECURE``        ``1`` for HTTPS, ``0`` for plain HTTP (default ``0``)
``ECAD_S3_REGION``        region (optional; saves a location lookup)
``ECAD_S3_CREATE_BUCKET`` ``1`` creates a missing bucket, ``0`` fails instead (default ``1``)
``ECAD_S3_TIMEOUT``       connect and read timeout per request, seconds (default 20)
``ECAD_S3_RETRY_SECONDS`` how long transient failures are retried before raising
                          :class:`~ecad.errors.TransientError` (default 60)
========================  ===========================================================

A single S3 ``PUT`` (and a multipart upload, which becomes visible only when completed) is
atomic, so ``put`` needs no temp-and-rename. Transient failures (connection refused or reset,
timeouts, HTTP 5xx, ``SlowDown``) are retried with exponential backoff and jitter until
``retry_seconds`` have passed since the first failure of that operation.
"""

from __future__ import annotations

import io
import logging
import math
import os
import random
import re
import ssl
import time
from collections.abc import Callable, Iterator, Mapping
from typing import TypeVar

import certifi
import urllib3
import urllib3.exceptions
from minio import Minio
from minio.error import InvalidResponseError, S3Error, ServerError

from ecad.errors import ConfigError, TransientError
from ecad.masking import mask_credentials
from ecad.store.base import MissingObjectError, ObjectStore, check_key

__all__ = ["S3Store"]

log = logging.getLogger(__name__)
T = TypeVar("T")

_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]\Z")
_MISSING_CODES = frozenset({"NoSuchKey", "NoSuchObject", "ResourceNotFound"})
_TRANSIENT_CODES = frozenset(
    {
        "SlowDown",
        "SlowDownRead",
        "SlowDownWrite",
        "InternalError",
        "ServiceUnavailable",
        "RequestTimeout",
        "RequestTimeTooSkewed",
        "XMinioServerNotInitialized",
        "XMinioReadQuorum",
        "XMinioWriteQuorum",
    }
)
_AUTH_CODES = frozenset({"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"})
_BACKOFF_FIRST, _BACKOFF_MAX = 0.1, 5.0


def _is_tls_error(exc: BaseException) -> bool:
    return isinstance(exc, urllib3.exceptions.SSLError | ssl.SSLError) or isinstance(
        getattr(exc, "reason", None), ssl.SSLError
    )


def _is_transient(exc: BaseException) -> bool:
    if _is_tls_error(exc):  # a configuration mistake, not an outage
        return False
    if isinstance(exc, S3Error):
        status = exc.response.status if exc.response is not None else 0
        return exc.code in _TRANSIENT_CODES or status >= 500
    if isinstance(exc, ServerError):
        return exc.status_code >= 500
    if isinstance(exc, InvalidResponseError):  # e.g. an HTML 502 from a proxy in front
        return getattr(exc, "_code", 0) >= 500
    # urllib3.exceptions.HTTPError covers connect/read timeouts, refused and reset connections
    # (NewConnectionError, ProtocolError, ...); OSError covers what escapes it.
    return isinstance(exc, urllib3.exceptions.HTTPError | OSError)


class S3Store(ObjectStore):
    """Objects in one bucket of an S3-compatible server.

    Example (a MinIO from ``docker compose up minio``)::

        store = S3Store("localhost:9000", "ecad", "change-me-please", bucket="ecad")
        store.put_json("hello.json", {"x": 1})
    """

    def __init__(
        self,
        endpoint: str,
        access_key: str,
        secret_key: str,
        bucket: str = "ecad",
        *,
        secure: bool = False,
        region: str | None = None,
        create_bucket: bool = True,
        timeout: float = 20.0,
        retry_seconds: float = 60.0,
    ) -> None:
        if "://" in endpoint or "/" in endpoint or "@" in endpoint:
            raise ConfigError(
                f"S3 endpoint {mask_credentials(endpoint)!r} must be a bare host:port (no scheme, "
                "no path, no credentials); use secure=True (ECAD_S3_SECURE=1) for HTTPS"
            )
        if not _BUCKET.match(bucket):
            raise ConfigError(
                f"invalid S3 bucket name {mask_credentials(bucket)!r}: 3-63 characters of a-z, "
                "0-9, '.' and '-'"
            )
        if timeout <= 0 or retry_seconds < 0:
            raise ConfigError(
                f"S3 timeout must be > 0 (got {timeout}) and retry_seconds >= 0 "
                f"(got {retry_seconds})"
            )
        self.endpoint, self.bucket, self.secure = endpoint, bucket, secure
        self.timeout, self.retry_seconds = timeout, retry_seconds
        self._credentials = (access_key, secret_key, region)
        self._pid = -1
        self._minio: Minio | None = None
        self._ensure_bucket(create_bucket)

    @classmethod
    def from_env(cls, bucket: str | None = None, env: Mapping[str, str] | None = None,
                 budget_s: float | None = None) -> S3Store:
        """Build a store from the ``ECAD_S3_*`` variables (``env`` defaults to ``os.environ``);
        ``budget_s`` caps the request timeout and the retry time (a command that must answer
        within a deadline, such as ``ecad status``)."""
        env = os.environ if env is None else env

        def required(name: str) -> str:
            value = env.get(name, "").strip()
            if not value:
                raise ConfigError(
                    f"{name} is not set: the S3 store needs ECAD_S3_ENDPOINT (host:port), "
                    "ECAD_S3_ACCESS_KEY and ECAD_S3_SECRET_KEY (see deploy/.env.example)"
                )
            return value

        endpoint = required("ECAD_S3_ENDPOINT")
        if "://" in endpoint or "/" in endpoint or "@" in endpoint:
            raise ConfigError(
                f"ECAD_S3_ENDPOINT={mask_credentials(endpoint)!r}: give a bare host:port such as "
                "minio:9000 (no scheme, no path, no credentials: those go in ECAD_S3_ACCESS_KEY "
                "and ECAD_S3_SECRET_KEY); ECAD_S3_SECURE=1 selects HTTPS"
            )
        bucket = bucket or env.get("ECAD_S3_BUCKET", "").strip() or "ecad"
        if not _BUCKET.match(bucket):
            hint = (" (credentials go in ECAD_S3_ACCESS_KEY and ECAD_S3_SECRET_KEY)"
                    if "@" in bucket else "")
            raise ConfigError(
                f"invalid S3 bucket name {mask_credentials(bucket)!r} (ECAD_S3_BUCKET or "
                f"s3://BUCKET): 3-63 characters of a-z, 0-9, '.' and '-'{hint}"
            )
        access_key, secret_key = required("ECAD_S3_ACCESS_KEY"), required("ECAD_S3_SECRET_KEY")
        cap = math.inf if budget_s is None else max(budget_s, 0.001)
        return cls(
            endpoint,
            access_key,
            secret_key,
            bucket,
            secure=_flag(env, "ECAD_S3_SECURE", False),
            region=env.get("ECAD_S3_REGION", "").strip() or None,
            create_bucket=_flag(env, "ECAD_S3_CREATE_BUCKET", True),
            timeout=min(_seconds(env, "ECAD_S3_TIMEOUT", 20.0, minimum=0.001), cap),
            retry_seconds=min(_seconds(env, "ECAD_S3_RETRY_SECONDS", 60.0, minimum=0.0), cap),
        )

    def describe(self) -> str:
        return f"s3://{self.bucket} at {'https' if self.secure else 'http'}://{self.endpoint}"

    # -- the contract ---------------------------------------------------------------------------

    def put(self, key: str, data: bytes) -> None:
        check_key(key)
        data = bytes(data)
        self._retry(
            "put",
            key,
            lambda c: c.put_object(
                bucket_name=self.bucket,
                object_name=key,
                data=io.BytesIO(data),
                length=len(data),
            ),
        )

    def get(self, key: str) -> bytes:
        check_key(key)

        def read(client: Minio) -> bytes:
            response = client.get_object(bucket_name=self.bucket, object_name=key)
            try:
                return response.read()
            finally:
                response.close()
                response.release_conn()

        try:
            return self._retry("get", key, read)
        except S3Error as exc:
            if exc.code in _MISSING_CODES:
                raise MissingObjectError(f"{self.describe()}: no object {key!r}") from None
            raise

    def exists(self, key: str) -> bool:
        check_key(key)
        try:
            self._retry(
                "stat", key, lambda c: c.stat_object(bucket_name=self.bucket, object_name=key)
            )
        except S3Error as exc:
            if exc.code in _MISSING_CODES:
                return False
            raise
        return True

    def list(self, prefix: str = "") -> Iterator[str]:
        if prefix.strip("/"):
            check_key(prefix.strip("/"))
        # S3 lists keys in UTF-8 binary order, which is Python's str order for our key alphabet.
        # A listing broken off by an outage resumes after the last key it yielded.
        last: str | None = None
        backoff = _Backoff(self, "list", prefix + "*")
        while True:
            try:
                objects = self._client().list_objects(
                    bucket_name=self.bucket,
                    prefix=prefix or None,
                    recursive=True,
                    start_after=last,
                )
                for obj in objects:
                    if obj.object_name and not obj.is_dir:
                        last = obj.object_name
                        backoff = _Backoff(self, "list", prefix + "*")
                        yield last
                return
            except Exception as exc:
                backoff.wait_or_raise(exc)

    def delete(self, key: str) -> None:
        check_key(key)
        self._retry(
            "delete", key, lambda c: c.remove_object(bucket_name=self.bucket, object_name=key)
        )

    # -- plumbing -------------------------------------------------------------------------------

    def _client(self) -> Minio:
        # A connection pool must not be shared across fork (Celery prefork): rebuild per process.
        if self._minio is None or self._pid != os.getpid():
            access_key, secret_key, region = self._credentials
            http = urllib3.PoolManager(
                timeout=urllib3.Timeout(connect=self.timeout, read=self.timeout),
                retries=False,  # retried here, against the time budget
                maxsize=10,
                cert_reqs="CERT_REQUIRED",
                ca_certs=os.environ.get("SSL_CERT_FILE") or certifi.where(),
            )
            try:
                self._minio = Minio(
                    self.endpoint,
                    access_key=access_key,
                    secret_key=secret_key,
                    secure=self.secure,
                    region=region,
                    http_client=http,
                )
            except ValueError as exc:  # minio's checks of the endpoint (a port that is no number)
                raise ConfigError(f"S3 endpoint {mask_credentials(self.endpoint)!r}: "
                                  f"{mask_credentials(exc)}; give a bare host:port") from None
            self._pid = os.getpid()
        return self._minio

    def _retry(self, op: str, key: str, call: Callable[[Minio], T]) -> T:
        backoff = _Backoff(self, op, key)
        while True:
            try:
                return call(self._client())
            except Exception as exc:
                backoff.wait_or_raise(exc)

    def _ensure_bucket(self, create: bool) -> None:
        if self._retry("bucket_exists", "", lambda c: c.bucket_exists(bucket_name=self.bucket)):
            return
        if not create:
            raise ConfigError(
                f"{self.describe()}: bucket {self.bucket!r} does not exist and "
                "ECAD_S3_CREATE_BUCKET=0; create it (deploy's minio-init does) or set "
                "ECAD_S3_CREATE_BUCKET=1"
            )
        try:
            self._retry("make_bucket", "", lambda c: c.make_bucket(bucket_name=self.bucket))
        except S3Error as exc:  # another process created it first
            if exc.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise


class _Backoff:
    """Exponential backoff with jitter for one operation, within the store's time budget."""

    def __init__(self, store: S3Store, op: str, key: str) -> None:
        self.store, self.op, self.key = store, op, key
        self.failed_at: float | None = None
        self.attempt = 0

    def wait_or_raise(self, exc: Exception) -> None:
        store, what = self.store, f"key {self.key!r}" if self.key else "the bucket"
        if not _is_transient(exc):
            if isinstance(exc, S3Error) and exc.code in _AUTH_CODES:
                raise ConfigError(
                    f"{store.describe()}: {exc.code} on {self.op} of {what}; check "
                    "ECAD_S3_ACCESS_KEY and ECAD_S3_SECRET_KEY"
                ) from exc
            if _is_tls_error(exc):
                raise ConfigError(
                    f"{store.describe()}: TLS failed on {self.op} ({exc}); ECAD_S3_SECURE=1 needs "
                    "an HTTPS endpoint with a trusted certificate (SSL_CERT_FILE), 0 plain HTTP"
                ) from exc
            if isinstance(exc, S3Error) and exc.code == "NoSuchBucket":
                raise ConfigError(
                    f"{store.describe()}: bucket {store.bucket!r} does not exist; create it or "
                    "set ECAD_S3_CREATE_BUCKET=1"
                ) from exc
            raise exc
        now = time.monotonic()
        if self.failed_at is None:
            self.failed_at = now
            log.warning("%s: %s of %s failed (%s); retrying", store.describe(), self.op, what, exc)
        waited = now - self.failed_at
        if waited >= store.retry_seconds:
            raise TransientError(
                f"S3 endpoint {store.endpoint} (bucket {store.bucket!r}): {self.op} of {what} "
                f"kept failing for {waited:.1f}s (ECAD_S3_RETRY_SECONDS={store.retry_seconds:g}): "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        delay = min(_BACKOFF_MAX, _BACKOFF_FIRST * 2**self.attempt)
        self.attempt += 1
        # Jitter, so that workers which failed together do not retry in lockstep.
        time.sleep(min(random.uniform(delay / 2, delay), store.retry_seconds - waited))


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    value = env.get(name, "").strip().lower()
    if not value:
        return default
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name}={env[name]!r}: use 1 or 0")


def _seconds(env: Mapping[str, str], name: str, default: float, minimum: float) -> float:
    value = env.get(name, "").strip()
    if not value:
        return default
    try:
        seconds = float(value)
    except ValueError:
        raise ConfigError(f"{name}={value!r}: expected a number of seconds") from None
    if not seconds >= minimum:
        raise ConfigError(f"{name}={value!r}: must be >= {minimum:g} seconds")
    return seconds
