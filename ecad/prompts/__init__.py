"""Prompt sets: loaders for the formats users already have, with a content digest."""

from ecad.prompts.loaders import PromptSet, load_prompts

__all__ = ["PromptSet", "load_prompts"]
