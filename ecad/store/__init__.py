"""Object stores: one protocol, a filesystem backend (default) and an S3/MinIO backend."""

from ecad.store.base import MissingObjectError, ObjectStore, check_key
from ecad.store.filesystem import FilesystemStore

__all__ = ["FilesystemStore", "MissingObjectError", "ObjectStore", "check_key", "open_store"]


def open_store(url: str) -> ObjectStore:
    """``file:///path`` or a plain path gives a :class:`FilesystemStore`; ``s3://bucket`` the
    S3/MinIO backend configured from the environment."""
    if url.startswith("s3://"):
        from ecad.store.s3 import S3Store

        return S3Store.from_env(bucket=url[len("s3://") :].strip("/") or None)
    return FilesystemStore(url[len("file://") :] if url.startswith("file://") else url)
