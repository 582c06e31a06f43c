"""Whether a stream takes terminal control sequences (carriage-return redraws, line clearing,
cursor movement): on a terminal only, and never when the user asked for plain output.

``NO_COLOR`` (https://no-color.org: set and not empty) and ``TERM=dumb`` (a terminal that
understands no escape sequences: Emacs shells, some CI consoles) turn them off even on a TTY.
"""

from __future__ import annotations

import os
from typing import Any, TextIO

__all__ = ["PlainStream", "controls_allowed"]


def controls_allowed(stream: TextIO) -> bool:
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


class PlainStream:
    """``stream`` seen as not a terminal, for writers that decide by ``isatty`` alone (click's
    progress bar prints its label once, with no control characters, to a non-terminal)."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def isatty(self) -> bool:
        return False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)
