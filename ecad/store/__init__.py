"""Object stores: one protocol, a filesystem backend (default) and an S3/MinIO backend."""

import os

from ecad.store.base import MissingObjectError, ObjectStore, check_key
from ecad.store.filesystem import FilesystemStore

__all__ = [
    "FilesystemStore",
    "MissingObjectError",
    "ObjectStore",
    "check_key",
    "default_store_url",
    "open_store",
]


def default_store_url() -> str:
    """``$ECAD_STORE``, else ``runs/store`` (what every command and worker opens by default)."""
    return os.environ.get("ECAD_STORE", "runs/store")


def open_store(url: str | None = None, budget_s: float | None = None) -> ObjectStore:
    """``file:///path`` or a plain path gives a :class:`FilesystemStore`; ``s3://bucket`` the
    S3/MinIO backend configured from the environment; no URL: :func:`default_store_url`.
    ``budget_s`` caps how long one S3 operation may wait and retry."""
    url = url or default_store_url()
    if url.startswith("s3://"):
        from ecad.store.s3 import S3Store

        return S3Store.from_env(bucket=url[len("s3://") :].strip("/") or None, budget_s=budget_s)
    return FilesystemStore(url[len("file://") :] if url.startswith("file://") else url)
