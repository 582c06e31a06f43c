"""Text from the store or the broker made safe to print on a terminal.

A reason in ``failed.json``, a worker name or refusal forged in Redis, a schedule name in a
stored file: any of them may hold escape sequences that would move the cursor, retitle the
window or hide lines. Everything the CLI prints from there goes through :func:`printable`.
"""

from __future__ import annotations

import re

__all__ = ["printable"]

# C0 and C1 controls (DEL included), line/paragraph separators, bidirectional overrides.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def printable(text: object, keep_newlines: bool = False) -> str:
    """``text`` with every control character written as its escape (``\\x1b``, ``\\n``...).

    >>> printable("worker \\x1b[2Jx")
    'worker \\\\x1b[2Jx'
    """
    def escape(m: re.Match[str]) -> str:
        char = m.group(0)
        if keep_newlines and char == "\n":
            return char
        return repr(char)[1:-1] if ord(char) < 0x100 else f"\\u{ord(char):04x}"

    return _UNSAFE.sub(escape, str(text))
