"""Credentials from files: ``NAME_FILE=/run/secrets/x`` sets ``NAME`` to that file's content.

Compose ``secrets:`` and Kubernetes secret volumes hand a container its credentials as files;
an environment variable would show in ``docker inspect`` and the pod spec. The convention is the
one of the official images (``POSTGRES_PASSWORD_FILE``): a variable set directly wins, and a
``_FILE`` naming a missing file is an error naming the variable, never the value.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, MutableMapping
from pathlib import Path

from ecad.credentials import CLUSTER_CREDENTIALS
from ecad.errors import ConfigError

__all__ = ["load_secret_files"]


def load_secret_files(names: Iterable[str] = CLUSTER_CREDENTIALS,
                      env: MutableMapping[str, str] = os.environ) -> list[str]:
    """Read each ``NAME_FILE`` into ``NAME`` (unless ``NAME`` is set); return the names read."""
    read = []
    for name in names:
        path = env.get(f"{name}_FILE")
        if not path or env.get(name):
            continue
        try:
            env[name] = Path(path).read_text().rstrip("\r\n")
        except OSError as exc:
            raise ConfigError(f"{name}_FILE={path}: cannot read the secret file "
                              f"({exc.strerror}); mount it or unset {name}_FILE") from None
        read.append(name)
    return read
