"""Prompt sets: loaders for the formats users already have, with a content digest."""

from ecad.prompts.loaders import DUPLICATE_POLICIES, PROMPT_FORMATS, PromptSet, load_prompts

__all__ = ["DUPLICATE_POLICIES", "PROMPT_FORMATS", "PromptSet", "load_prompts"]
