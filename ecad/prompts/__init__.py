"""Prompt sets: loaders for the formats users already have, with a content digest, and named
published sets pinned by digest."""

from ecad.prompts.loaders import DUPLICATE_POLICIES, PROMPT_FORMATS, PromptSet, load_prompts
from ecad.prompts.named import NAMED_PROMPT_SETS, load_named_prompts

__all__ = [
    "DUPLICATE_POLICIES",
    "NAMED_PROMPT_SETS",
    "PROMPT_FORMATS",
    "PromptSet",
    "load_named_prompts",
    "load_prompts",
]
