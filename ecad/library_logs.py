"""Keep diffusers' and transformers' notices and loading bars out of ecad's output, without
importing them.

Importing ``diffusers.utils.logging`` to quiet it imports diffusers and torch (seconds on a
small machine), which every ``ecad`` command, ``--help`` included, would pay. Both libraries
read their verbosity from the environment when they are first imported, and huggingface_hub its
progress bars; so quieting is a few environment defaults, which also reach worker processes.
The one setting with no variable (diffusers' "Loading pipeline components" bar) is applied where
a pipeline loads, by :func:`apply_to_loaded`.
"""

from __future__ import annotations

import os
import sys

__all__ = ["QUIET_ENVIRONMENT", "apply_to_loaded", "quiet_model_libraries"]

#: Defaults only: a variable the user set wins.
QUIET_ENVIRONMENT = {
    "DIFFUSERS_VERBOSITY": "error",
    "TRANSFORMERS_VERBOSITY": "error",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
}


def quiet_model_libraries() -> None:
    """Set the quiet defaults; cheap, and imports nothing."""
    for name, value in QUIET_ENVIRONMENT.items():
        os.environ.setdefault(name, value)


def apply_to_loaded() -> None:
    """Turn off diffusers' own tqdm bars when the environment asks for no progress bars (call
    it after importing diffusers, before loading a pipeline)."""
    if os.environ.get("HF_HUB_DISABLE_PROGRESS_BARS", "").upper() not in {"1", "ON", "YES",
                                                                           "TRUE"}:
        return
    module = sys.modules.get("diffusers.utils.logging")
    if module is not None:
        module.disable_progress_bar()
