from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageFile

from bench.data.images import load_image, save_image
from bench.errors import DataError


def _gradient(h: int = 128, w: int = 64) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([y * 2, x * 4, (x + y) % 256], axis=-1).astype(np.uint8)


def test_png_round_trip_is_exact(tmp_path):
    image = _gradient()
    save_image(tmp_path / "a.png", image)
    np.testing.assert_array_equal(load_image(tmp_path / "a.png", size=(128, 64)), image)
    assert list(tmp_path.iterdir()) == [tmp_path / "a.png"]  # no temporary left behind


def test_jpeg_and_grey_and_rgba_become_rgb(tmp_path):
    save_image(tmp_path / "a.jpg", _gradient(), quality=95)
    jpg = load_image(tmp_path / "a.jpg")
    assert jpg.shape == (128, 64, 3) and jpg.dtype == np.uint8
    assert np.abs(jpg.astype(int) - _gradient()).mean() < 3
    Image.fromarray(np.full((5, 4), 7, np.uint8)).save(tmp_path / "g.png")
    np.testing.assert_array_equal(load_image(tmp_path / "g.png"), np.full((5, 4, 3), 7))
    Image.fromarray(np.full((5, 4, 4), 9, np.uint8)).save(tmp_path / "rgba.png")
    assert load_image(tmp_path / "rgba.png").shape == (5, 4, 3)


def test_wrong_size_names_file_and_both_sizes(tmp_path):
    save_image(tmp_path / "a.png", _gradient(100, 50))
    with pytest.raises(DataError, match=r"a\.png.*expected 128x64 \(HxW\), got 100x50"):
        load_image(tmp_path / "a.png", size=(128, 64))


def test_truncated_jpeg_is_an_error(tmp_path):
    save_image(tmp_path / "full.jpg", _gradient())
    data = (tmp_path / "full.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    assert not ImageFile.LOAD_TRUNCATED_IMAGES
    with pytest.raises(DataError, match=r"cut\.jpg.*truncated"):
        load_image(tmp_path / "cut.jpg")


def test_refuses_when_truncated_loading_was_switched_on(tmp_path, monkeypatch):
    save_image(tmp_path / "a.png", _gradient())
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    with pytest.raises(DataError, match="LOAD_TRUNCATED_IMAGES"):
        load_image(tmp_path / "a.png")


def test_unreadable_files(tmp_path):
    (tmp_path / "text.jpg").write_text("not an image")
    with pytest.raises(DataError, match=r"text\.jpg: not a readable image"):
        load_image(tmp_path / "text.jpg")
    with pytest.raises(DataError, match=r"missing\.jpg: image file not found"):
        load_image(tmp_path / "missing.jpg")
    (tmp_path / "dir.jpg").mkdir()
    with pytest.raises(DataError, match=r"dir\.jpg"):
        load_image(tmp_path / "dir.jpg")


def test_save_rejects_bad_arrays_and_leaves_nothing(tmp_path):
    with pytest.raises(ValueError, match="uint8"):
        save_image(tmp_path / "a.png", np.zeros((4, 4, 3), np.float32))
    with pytest.raises(DataError, match=r"a\.unknown-suffix: image files must end in \.png, \.jpg, \.jpeg"):
        save_image(tmp_path / "a.unknown-suffix", np.zeros((4, 4, 3), np.uint8))
    assert list(tmp_path.iterdir()) == []


def test_saved_images_are_signed_and_only_signed_ones_replaced(tmp_path):
    """A user's picture at the output path is refused; bench's own (PNG text chunk / JPEG comment) is replaced."""
    from bench.errors import BenchError

    for name in ("a.png", "a.jpg"):
        Image.new("RGB", (4, 4)).save(tmp_path / name)  # the user's
        with pytest.raises(BenchError, match="is not an image or figure written by bench"):
            save_image(tmp_path / name, np.zeros((4, 4, 3), np.uint8))
        (tmp_path / name).unlink()
        for value in (0, 255):  # written, then replaced by the next run
            save_image(tmp_path / name, np.full((4, 4, 3), value, np.uint8))
        assert np.asarray(Image.open(tmp_path / name)).min() >= 250
