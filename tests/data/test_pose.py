from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from bench.data.layout import KINDS
from bench.data.pose import heatmaps


def _loop_heatmaps(kp: np.ndarray, size: tuple[int, int], sigma: float) -> np.ndarray:
    """Pixel by pixel, straight from the formula of pose-gan's cords_to_map."""
    out = np.zeros((len(kp), *size))
    for c, (y0, x0) in enumerate(kp):
        if y0 == -1 or x0 == -1:
            continue
        for y in range(size[0]):
            for x in range(size[1]):
                out[c, y, x] = math.exp(-((y - y0) ** 2 + (x - x0) ** 2) / (2 * sigma**2))
    return out


def _random_pose(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    kp = np.stack([rng.integers(0, size[0], 18), rng.integers(0, size[1], 18)], axis=1)
    kp[rng.random(18) < 0.3] = -1
    kp[0] = (0, size[1] - 1)  # corners are legal positions
    return kp


@pytest.mark.parametrize("kind", ["market", "deepfashion"])
def test_heatmaps_match_pixel_loop(kind):
    size = KINDS[kind].image_size
    kp = _random_pose(np.random.default_rng(1), size)
    got = heatmaps(torch.from_numpy(kp).float(), size)
    assert got.shape == (18, *size) and got.dtype == torch.float32
    np.testing.assert_allclose(got.numpy(), _loop_heatmaps(kp, size, 6.0), rtol=1e-6, atol=1e-7)


def test_missing_channels_are_zero_and_peaks_are_one():
    size = (128, 64)
    kp = np.full((18, 2), -1)
    kp[3] = (40, 17)
    maps = heatmaps(kp, size)
    assert torch.count_nonzero(maps[torch.arange(18) != 3]) == 0
    assert maps[3, 40, 17] == 1.0
    assert torch.argmax(maps[3]).item() == 40 * 64 + 17


def test_batched_numpy_int_and_sigma():
    rng = np.random.default_rng(2)
    kp = np.stack([_random_pose(rng, (32, 24)) for _ in range(6)]).reshape(2, 3, 18, 2)
    maps = heatmaps(kp.astype(np.int32), (32, 24), sigma=2.5, dtype=torch.float64)
    assert maps.shape == (2, 3, 18, 32, 24) and maps.dtype == torch.float64
    np.testing.assert_allclose(maps[1, 2].numpy(), _loop_heatmaps(kp[1, 2], (32, 24), 2.5), rtol=1e-12, atol=1e-15)


def test_rejects_bad_shape():
    with pytest.raises(ValueError, match="18, 2"):
        heatmaps(np.zeros((17, 2)), (8, 8))
