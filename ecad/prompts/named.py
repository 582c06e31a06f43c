"""Named prompt sets: published sets pinned by content, loaded from a file the user supplies.

The project does not ship the text of published prompt sets. A named set records what it is
(provenance, license, size) and two digests: sha256 of the prompts in order and of their ids in
order (JSON lists, as :meth:`PromptSet.digest`). Loading reads the user's copy, from the path
given or from the set's environment variable, and refuses any file whose prompts or ids differ,
naming the file and the expected digests.

Example:
    >>> from ecad.prompts.named import load_named_prompts
    >>> name = "imagereward-benchmark-100"
    >>> ps = load_named_prompts(name, "ImageRewardPrompts.json")  # doctest: +SKIP
    >>> len(ps), ps.ids[0]  # doctest: +SKIP
    (100, '005695-0057')
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from ecad.errors import ConfigError
from ecad.prompts.loaders import PromptSet, load_prompts

__all__ = ["NAMED_PROMPT_SETS", "NamedPromptSet", "ids_digest", "load_named_prompts"]


def ids_digest(ids: tuple[str, ...] | None) -> str:
    """sha256 over the ids in order (a JSON list), the companion of :meth:`PromptSet.digest`."""
    return hashlib.sha256(json.dumps(list(ids or ())).encode()).hexdigest()


@dataclass(frozen=True)
class NamedPromptSet:
    """A published prompt set, pinned by the digests of its prompts and ids in order."""

    name: str
    count: int
    prompts_sha256: str
    ids_sha256: str
    env_var: str
    file_format: str
    provenance: str
    license: str

    def path(self, given: str | os.PathLike | None = None) -> Path:
        """The file to read: ``given``, else the set's environment variable."""
        value = given if given is not None else os.environ.get(self.env_var)
        if not value:
            raise ConfigError(
                f"prompt set {self.name!r} is not shipped with ecad ({self.provenance}; "
                f"{self.license}); give its file (prompts.file in a spec) or set "
                f"{self.env_var}=/path/to/it"
            )
        return Path(os.path.expanduser(str(value)))

    def load(self, given: str | os.PathLike | None = None) -> PromptSet:
        """Read and verify the user's copy; every prompt and id, in order, must match."""
        path = self.path(given)
        prompts = load_prompts(path, self.file_format, duplicates="keep")
        got = (prompts.digest(), ids_digest(prompts.ids))
        if len(prompts) != self.count or got != (self.prompts_sha256, self.ids_sha256):
            raise ConfigError(
                f"{path}: not the prompt set {self.name!r}: expected {self.count} prompts with "
                f"prompts sha256 {self.prompts_sha256} and ids sha256 {self.ids_sha256}, got "
                f"{len(prompts)} prompts with {got[0]} and {got[1]} ({self.provenance})"
            )
        return PromptSet(prompts.prompts, source=str(path), ids=prompts.ids)


NAMED_PROMPT_SETS: dict[str, NamedPromptSet] = {
    s.name: s
    for s in (
        NamedPromptSet(
            name="imagereward-benchmark-100",
            count=100,
            prompts_sha256="36f9d92a0c2a18bee9bfb6aa67ff01c6c8945e4d0c82a5edcafd7a565fabe77e",
            ids_sha256="7a654edfb6af5edfdcd064f5f1c1e4a8620b8893e5fe3d6e0931851c40ac76ef",
            env_var="ECAD_IMAGEREWARD_BENCHMARK_PROMPTS",
            file_format="json",
            provenance=(
                "the ImageReward benchmark, benchmark/benchmark-prompts.json of THUDM/ImageReward, "
                "reproduced as prompts/ImageRewardPrompts.json in the ECAD reference release; "
                "ECAD's calibration prompts"
            ),
            license="Apache-2.0",
        ),
    )
}


def load_named_prompts(name: str, path: str | os.PathLike | None = None) -> PromptSet:
    """Load the named set ``name`` from ``path`` (else its environment variable), verified."""
    try:
        named = NAMED_PROMPT_SETS[name]
    except KeyError:
        raise ConfigError(
            f"unknown prompt set {name!r}; named sets: {sorted(NAMED_PROMPT_SETS)}"
        ) from None
    return named.load(path)
