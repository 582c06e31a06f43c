import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.transforms import (
    CenterCrop,
    Compose,
    InterpolationMode,
    Normalize,
    Resize,
    ToTensor,
)

from ecad.scoring.pixels import SplitPreprocess

MEAN, STD = (0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)


def _reward_model_preprocess():  # the shape of ImageReward's and CLIP's _transform(224)
    return Compose([Resize(224, interpolation=InterpolationMode.BICUBIC), CenterCrop(224),
                    lambda im: im.convert("RGB"), ToTensor(), Normalize(MEAN, STD)])


def _images():
    rng = np.random.default_rng(0)
    return [Image.fromarray(rng.integers(0, 256, (h, w, c), dtype=np.uint8))
            for h, w, c in ((256, 256, 3), (300, 200, 3), (1024, 1024, 3), (64, 96, 4))]


def test_split_equals_the_composed_pipeline_exactly():
    preprocess = _reward_model_preprocess()
    split = SplitPreprocess.of(preprocess)
    assert split is not None
    images = _images()
    expected = torch.stack([preprocess(im) for im in images])
    got = split.batch([split.pixels(im) for im in images], "cpu")
    assert got.dtype == torch.float32 and got.shape == (4, 3, 224, 224)
    assert torch.equal(got, expected)


def test_other_pipelines_are_not_split():
    assert SplitPreprocess.of(Compose([Resize(224), ToTensor()])) is None
    assert SplitPreprocess.of(Compose([ToTensor(), Normalize(MEAN, STD, inplace=True)])) is None
    assert SplitPreprocess.of(lambda im: im) is None


def test_non_rgb_output_is_refused():
    split = SplitPreprocess([lambda im: im.convert("L")], MEAN, STD)
    with pytest.raises(ValueError, match="expected an RGB image"):
        split.pixels(_images()[0])
