"""Keep diffusers' and transformers' notices and loading bars out of ecad's output, without
importing them.

Importing ``diffusers.utils.logging`` to quiet it imports diffusers and torch (seconds on a
small machine), which every ``ecad`` command, ``--help`` included, would pay. Both libraries
read their verbosity from the environment when they are first imported, and huggingface_hub its
progress bars; so quieting is a few environment defaults, which also reach worker processes.
The one setting with no variable (diffusers' "Loading pipeline components" bar) is applied where
a pipeline loads, and to libraries a long-lived process imported earlier, by
:func:`apply_to_loaded`.
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
    """Set the quiet defaults (cheap: imports nothing), and apply them to the libraries this
    process has imported already (they read the variables only when first imported)."""
    for name, value in QUIET_ENVIRONMENT.items():
        os.environ.setdefault(name, value)
    apply_to_loaded()


def _truthy(name: str) -> bool:
    return os.environ.get(name, "").upper() in {"1", "ON", "YES", "TRUE"}


def apply_to_loaded() -> None:
    """Apply the environment's verbosity and progress-bar settings to diffusers and
    transformers where this process has imported them; import nothing. Call it after importing
    diffusers, before loading a pipeline: diffusers' own bars have no variable."""
    hub = sys.modules.get("huggingface_hub.utils")
    if hub is not None and _truthy("HF_HUB_DISABLE_PROGRESS_BARS"):
        # read by transformers when it is first imported (after this, e.g. to save a model)
        hub.disable_progress_bars()
    for package in ("diffusers", "transformers"):
        module = sys.modules.get(f"{package}.utils.logging")
        if module is None:
            continue
        if _truthy("HF_HUB_DISABLE_PROGRESS_BARS"):
            module.disable_progress_bar()
        if os.environ.get(f"{package.upper()}_VERBOSITY") == "error":
            module.set_verbosity_error()
