"""Credentials out of printed text: every URL (or ``host``) the project prints goes through
:func:`mask_credentials`, so a password given inside a URL (``redis://:pw@host``,
``--store s3://KEY:SECRET@bucket``, ``ECAD_S3_ENDPOINT=user:secret@host``) never reaches a
terminal, a log or an error line."""

from __future__ import annotations

import re

__all__ = ["mask_credentials"]

# ``user:password@`` (after a scheme, or at the start of a word) and ``scheme://token@``.
_WITH_PASSWORD = re.compile(r"((?:[A-Za-z][\w+.-]*://)|(?<![\w.:/@-]))([^\s:/@'\"]*):[^\s@/'\"]+@")
_TOKEN = re.compile(r"([A-Za-z][\w+.-]*://)[^\s:/@'\"]+@")


def mask_credentials(text: object) -> str:
    """``text`` with the password of every ``user:password@`` replaced by ``***``.

    >>> mask_credentials("invalid bucket 'KEY:SECRET@bucket' in redis://:pw@h:6379/0")
    "invalid bucket 'KEY:***@bucket' in redis://:***@h:6379/0"
    >>> mask_credentials("https://token@host/x")
    'https://***@host/x'
    """
    masked = _WITH_PASSWORD.sub(r"\1\2:***@", str(text))
    return _TOKEN.sub(lambda m: m.group(0) if m.group(0).endswith("***@") else
                      f"{m.group(1)}***@", masked)
