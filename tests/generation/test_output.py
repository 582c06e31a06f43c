import numpy as np
import pytest
from PIL import Image

from ecad.generation import GeneratedImage, save_images


def _images(n):
    rng = np.random.default_rng(0)
    for k in range(n):
        pixels = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
        yield GeneratedImage(k // 2, k % 2, 100 + k, Image.fromarray(pixels))


def test_save_images_writes_every_png_and_returns_rows_in_generation_order(tmp_path):
    seen = []
    rows = save_images(_images(7), tmp_path, workers=3, on_saved=seen.append)
    assert [r["file"] for r in rows] == [f"p{k // 2:05d}_i{k % 2:03d}.png" for k in range(7)]
    assert [r["seed"] for r in rows] == list(range(100, 107))
    assert seen == rows  # each row reported once its file is written
    for row, image in zip(rows, _images(7), strict=True):
        written = np.asarray(Image.open(tmp_path / row["file"]))
        assert np.array_equal(written, np.asarray(image.image))  # lossless
    assert not list(tmp_path.glob("*.tmp*"))  # atomic writes leave no partial files


def test_a_write_error_stops_generation_early(tmp_path):
    target = tmp_path / "not-a-dir"
    target.write_text("x")
    pulled = []

    def images():
        for image in _images(100):
            pulled.append(image)
            yield image

    with pytest.raises(OSError):
        save_images(images(), target, workers=2)
    assert len(pulled) <= 4 * 2 + 1  # the backlog is bounded: generation stopped at the error


def test_memory_is_bounded_by_the_backlog(tmp_path):
    pulled, written = [], []

    def images():
        for image in _images(40):
            assert len(pulled) - len(written) <= 4 * 2 + 1
            pulled.append(image)
            yield image

    rows = save_images(images(), tmp_path, workers=2, on_saved=written.append)
    assert len(rows) == 40
