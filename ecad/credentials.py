"""Refuse to start with the placeholder credentials of the shipped env examples.

The examples (``deploy/env/*.env.example``) hold ``change-me-...`` values that are well-formed
logins: a cluster started with them runs, with credentials anyone can read. Every service checks
its own credentials at start-up and stops with an error naming the variables (never the values).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping

from ecad.errors import ConfigError

__all__ = ["CLUSTER_CREDENTIALS", "PLACEHOLDER", "refuse_placeholders"]

PLACEHOLDER = "change-me"
# What the scheduler and workers hold: broker/result URLs (with the Redis password), the
# store's app user, and the hub token where weights are fetched.
CLUSTER_CREDENTIALS = (
    "REDIS_PASSWORD",
    "ECAD_BROKER_URL",
    "ECAD_RESULT_BACKEND",
    "ECAD_S3_ACCESS_KEY",
    "ECAD_S3_SECRET_KEY",
    "HF_TOKEN",
)


def refuse_placeholders(
    service: str, names: Iterable[str] = CLUSTER_CREDENTIALS, env: Mapping[str, str] = os.environ
) -> None:
    """Raise :class:`ConfigError` if any of ``names`` still holds a ``change-me`` value."""
    bad = [name for name in names if PLACEHOLDER in env.get(name, "").lower()]
    if bad:
        raise ConfigError(
            f"{service} will not start: {', '.join(bad)} still hold(s) a '{PLACEHOLDER}' "
            "placeholder from the example env files. Set real credentials (deploy/README.md, "
            "'Secrets') and start it again.")
