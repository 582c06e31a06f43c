"""ImageReward adapter: local random-weight checkpoint, batching equal to the package's score()."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from ecad.scoring.errors import ScorerError
from ecad.scoring.image_reward import ImageRewardScorer, VisionSpec, load_image_reward
from tests.scoring.conftest import noise_image


@pytest.fixture(scope="module")
def scorer(image_reward_files: dict[str, str]) -> ImageRewardScorer:
    return ImageRewardScorer(device="cpu", batch_size=2, **image_reward_files)


def test_loads_lazily_from_local_files(image_reward_files: dict[str, str]) -> None:
    scorer = ImageRewardScorer(device="cpu", **image_reward_files)
    assert not scorer.loaded
    model = scorer.model
    assert scorer.loaded and scorer.model is model
    assert type(model).__module__ == "ImageReward.ImageReward"  # the package's own class
    assert len(model.blip.tokenizer) == model.blip.text_encoder.config.vocab_size


def test_scores_are_finite_per_image_and_distinguish_images(
    scorer: ImageRewardScorer, images: list, prompts: list[str]
) -> None:
    scores = scorer.score(images, prompts)
    assert scores.shape == (len(images),) and scores.dtype == np.float64
    assert np.isfinite(scores).all()
    assert scores[0] != scores[2]  # same prompt, different image
    assert np.std(scores) > 1e-3


def test_batched_equals_package_per_image_score(
    scorer: ImageRewardScorer, images: list, prompts: list[str]
) -> None:
    batched = scorer.score(images, prompts)
    one_by_one = np.array([scorer.model.score(p, im) for p, im in zip(prompts, images)])
    np.testing.assert_allclose(batched, one_by_one, rtol=0, atol=1e-5)
    whole = ImageRewardScorer(device="cpu", batch_size=len(images), **scorer.options)
    np.testing.assert_allclose(whole.score(images, prompts), one_by_one, rtol=0, atol=1e-5)


def test_long_prompt_is_truncated_like_the_package(scorer: ImageRewardScorer) -> None:
    prompt = "a red fox " * 40
    image = noise_image(7)
    assert scorer.score([image], [prompt])[0] == pytest.approx(scorer.model.score(prompt, image),
                                                               abs=1e-5)


def test_vision_spec_is_read_from_checkpoint(image_reward_files: dict[str, str]) -> None:
    from ecad.scoring.weights import read_state_dict

    spec = VisionSpec.from_state_dict(read_state_dict(image_reward_files["checkpoint"]))
    assert spec == VisionSpec(32, 16, 64, 1, 1, 4.0)


def test_degenerate_tokenizer_fails_loudly(image_reward_files: dict[str, str],
                                           tmp_path: Path) -> None:
    (tmp_path / "vocab.txt").write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n")
    with pytest.raises(ScorerError, match=r"expects vocab_size=.*empty BERT vocabulary"):
        load_image_reward(image_reward_files["checkpoint"], image_reward_files["med_config"],
                          str(tmp_path), device="cpu")


def test_hub_default_offline_names_the_local_options(tmp_path: Path) -> None:
    scorer = ImageRewardScorer(device="cpu", cache_dir=str(tmp_path))
    with pytest.raises(ScorerError, match="checkpoint=, med_config= and tokenizer="):
        scorer.score([noise_image(0)], ["a cat"])


def test_bad_checkpoints_are_refused(image_reward_files: dict[str, str], tmp_path: Path) -> None:
    pickled = tmp_path / "pickled.pt"
    torch.save({"blip.x": torch.zeros(1), "note": object()}, pickled)
    with pytest.raises(ScorerError, match="cannot read checkpoint"):
        load_image_reward(pickled, image_reward_files["med_config"],
                          image_reward_files["tokenizer"], device="cpu")
    partial = tmp_path / "partial.pt"
    state = torch.load(image_reward_files["checkpoint"], weights_only=True)
    torch.save({k: v for k, v in state.items() if not k.startswith("mlp.")}, partial)
    with pytest.raises(ScorerError, match="tensors missing"):
        load_image_reward(partial, image_reward_files["med_config"],
                          image_reward_files["tokenizer"], device="cpu")
    other = tmp_path / "other.pt"
    torch.save({"weight": torch.zeros(2)}, other)
    with pytest.raises(ScorerError, match="not an ImageReward checkpoint"):
        load_image_reward(other, image_reward_files["med_config"],
                          image_reward_files["tokenizer"], device="cpu")


def test_bad_med_config_and_options(image_reward_files: dict[str, str], tmp_path: Path) -> None:
    bad = tmp_path / "med_config.json"
    bad.write_text(json.dumps({"hidden_size": 32}))
    with pytest.raises(ScorerError, match=r"med_config\.json with vocab_size"):
        load_image_reward(image_reward_files["checkpoint"], bad, image_reward_files["tokenizer"],
                          device="cpu")
    with pytest.raises(ScorerError, match="dtype"):
        ImageRewardScorer(dtype="int8")


def test_input_mismatch_is_an_error(scorer: ImageRewardScorer) -> None:
    with pytest.raises(ScorerError, match="2 images but 1 prompts"):
        scorer.score([noise_image(0), noise_image(1)], ["a cat"])
    with pytest.raises(ScorerError, match="no images"):
        scorer.score([], [])


def test_tf32_is_on_only_while_the_scorer_runs():
    import torch

    from ecad.scoring.image_reward import ImageRewardScorer

    scorer = ImageRewardScorer(device="cpu", tf32=True)
    scorer.device = torch.device("cuda")  # the switch only; no kernel runs here
    before = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    try:
        with scorer._matmul_precision():
            assert torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.allow_tf32
        assert not torch.backends.cuda.matmul.allow_tf32, "other float32 work stays strict"
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = before


def test_one_lock_per_process_wide_scorer():
    from ecad.scoring import get_scorer

    scorer = get_scorer("psnr")
    assert scorer.lock is get_scorer("psnr").lock
    assert scorer.lock is not get_scorer("ssim").lock
