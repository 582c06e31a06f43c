"""One error hierarchy for the whole library.

``EcadError`` is the root. ``TransientError`` marks failures worth retrying (a store that did not
answer, a worker that went away); everything else is a user or programming error and fails fast.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "EcadError",
    "FamilyError",
    "ScheduleCompileError",
    "ScheduleFormatError",
    "ScheduleMismatchError",
    "TransientError",
]


class EcadError(Exception):
    """Root of every error this project raises on purpose."""


class ConfigError(EcadError, ValueError):
    """A value given by the user (CLI option, spec field, argument) is out of range or malformed."""


class FamilyError(ConfigError):
    """Unknown model family, or a model whose structure does not match its family."""


class ScheduleFormatError(ConfigError):
    """A schedule file or array is malformed.

    The message names the file, step, block and component."""


class ScheduleMismatchError(ConfigError):
    """A schedule does not fit the model or the call it is applied to (family, blocks, steps)."""


class TransientError(EcadError):
    """A failure that may go away on retry (network, store, lost worker)."""


class ScheduleCompileError(ConfigError):
    """A schedule cannot be compiled in the asked combination (model, schedule, mode, device);
    the message names the combination and what to do instead."""
