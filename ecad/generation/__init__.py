"""Generation: prompt embeddings once, then batched deterministic sampling with a schedule."""

from ecad.generation.embeddings import PromptEmbeddings, embed_prompts
from ecad.generation.generate import (
    GeneratedImage,
    GenerationSettings,
    generate_images,
    image_filename,
)
from ecad.generation.output import save_image, save_images
from ecad.generation.seeds import image_generator, image_seed

__all__ = [
    "GeneratedImage",
    "GenerationSettings",
    "PromptEmbeddings",
    "embed_prompts",
    "generate_images",
    "image_filename",
    "image_generator",
    "image_seed",
    "save_image",
    "save_images",
]
