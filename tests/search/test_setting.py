from ecad.search.setting import evaluation_key

QUALITY = {"scorer": "image-reward", "checkpoint": "ir.pt", "tf32": True}


def test_scores_are_keyed_by_images_scorer_and_options_that_change_scores():
    key = evaluation_key("g1", QUALITY)
    assert key == evaluation_key("g1", dict(QUALITY))
    assert key != evaluation_key("g2", QUALITY)
    assert key != evaluation_key("g1", {**QUALITY, "tf32": False})
    assert key != evaluation_key("g1", {**QUALITY, "checkpoint": "other.pt"})


def test_batch_size_threads_and_hv_reference_reuse_stored_scores():
    key = evaluation_key("g1", QUALITY)
    for option, value in (("batch_size", 64), ("workers", 2), ("hv_reference", [2.0, 1.1])):
        assert evaluation_key("g1", {**QUALITY, option: value}) == key, option


def test_names_of_one_scorer_share_scores():
    fidelity = {"scorer": "fidelity", "metric": "psnr"}
    assert evaluation_key("g1", fidelity) == evaluation_key("g1", {"scorer": "psnr"})
    clip = evaluation_key("g1", {"scorer": "clip"})
    assert clip == evaluation_key("g1", {"scorer": "clip-score"})
    assert evaluation_key("g1", fidelity) != evaluation_key("g1", {"scorer": "ssim"})
