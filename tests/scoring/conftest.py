"""Random-weight scorer checkpoints written once per session, and small test images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image


def noise_image(seed: int, size: tuple[int, int] = (32, 32)) -> Image.Image:
    """A distinct RGB image per seed (``size`` is width, height)."""
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))


def perturbed(image: Image.Image, amount: int, seed: int = 0) -> Image.Image:
    """``image`` plus uniform noise in [-amount, amount]."""
    rng = np.random.default_rng(seed)
    pixels = np.asarray(image).astype(np.int16) + rng.integers(-amount, amount + 1,
                                                               np.asarray(image).shape)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


@pytest.fixture(scope="session")
def image_reward_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    from ecad.scoring.tiny import write_random_image_reward

    return write_random_image_reward(tmp_path_factory.mktemp("image-reward"))


@pytest.fixture(scope="session")
def clip_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    from ecad.scoring.tiny import write_tiny_clip

    return write_tiny_clip(tmp_path_factory.mktemp("clip"))


@pytest.fixture(scope="session")
def inception_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    from ecad.scoring.tiny import write_random_inception

    return write_random_inception(tmp_path_factory.mktemp("inception") / "inception.safetensors")


@pytest.fixture(scope="session")
def alexnet_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    from ecad.scoring.tiny import write_random_alexnet

    return write_random_alexnet(tmp_path_factory.mktemp("alexnet") / "alexnet.safetensors")


@pytest.fixture
def images() -> list[Image.Image]:
    sizes = [(32, 32), (48, 40), (32, 32), (64, 64), (40, 56)]
    return [noise_image(n, size) for n, size in enumerate(sizes)]


@pytest.fixture
def prompts() -> list[str]:
    return ["a red fox in snow", "a sign that says open", "a red fox in snow", "two cats", "sky"]


def write_images(directory: Path, images: list[Image.Image], per_prompt: int) -> Path:
    """Write ``images`` as ``pNNNNN_iNNN.png``, ``per_prompt`` images per prompt."""
    from ecad.generation import image_filename

    directory.mkdir(parents=True, exist_ok=True)
    for n, im in enumerate(images):
        im.save(directory / image_filename(n // per_prompt, n % per_prompt))
    return directory
