"""The compiled SSIM kernel against scikit-image, image by image, where its shortcuts could go wrong.

References: today's ``skimage.metrics.structural_similarity`` with the authors'
arguments (11 taps) and scipy's ``gaussian_filter(truncate=4.0)`` as scikit-image
<= 0.14 used it (13 taps), both from test_ssim.py. The kernel only computes windows that reach a pair's
support (mask bounding box, or the image between the padded columns) and takes
the rest as exactly 1: masks touching each border, one-pixel masks and DeepFashion
padding check that the skipped windows really are constant on both sides.
"""
from __future__ import annotations

import numpy as np
import pytest
from test_ssim import authors_ssim, legacy_ssim

from bench.metrics.pixel_kernel import run_ssim
from bench.metrics.ssim import TRUNCATE, gaussian_taps

CROP = 5


REFERENCE = {"skimage-11": authors_ssim, "legacy-13": legacy_ssim}


def masks_at_the_borders(n: int, size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    h, w = size
    masks = np.zeros((n, h, w), bool)
    boxes = [(0, 20, 0, 10), (h - 15, h, w - 8, w), (0, h, 30, 34), (50, 51, 20, 21), (10, h - 10, 0, w)]
    for i in range(n):
        top, bottom, left, right = boxes[i % len(boxes)]
        masks[i, top:bottom, left:right] = True
        if i >= len(boxes):  # and a random blob elsewhere
            y, x = rng.integers(0, h - 8), rng.integers(0, w - 8)
            masks[i, y : y + 8, x : x + 8] = True
    return masks


def frame(image: np.ndarray, mask: np.ndarray | None, pad: int) -> np.ndarray:
    """What the authors score: the masked image (black background), padded white (black when masked)."""
    if mask is not None:
        image = image * mask[..., None].astype(np.uint8)
    return np.pad(image, ((0, 0), (pad, pad), (0, 0)), constant_values=0 if mask is not None else 255) if pad else image


@pytest.mark.parametrize("kernel", ["skimage-11", "legacy-13"])
@pytest.mark.parametrize("size,pad", [((128, 64), 0), ((256, 176), 40)])
def test_masked_and_padded_scores_equal_the_reference_per_image(kernel, size, pad):
    rng = np.random.default_rng(3)
    n = 10
    generated = rng.integers(0, 256, (n, *size, 3), dtype=np.uint8)
    targets = np.clip(generated.astype(int) + rng.integers(-60, 60, generated.shape), 0, 255).astype(np.uint8)
    masks = masks_at_the_borders(n, size, rng)
    taps = gaussian_taps(TRUNCATE[kernel])
    for use in (None, masks):
        got = run_ssim(generated, targets, use, pad, taps, CROP, threads=2)
        expected = [REFERENCE[kernel](frame(t, None if use is None else m, pad), frame(g, None if use is None else m, pad))
                    for g, t, m in zip(generated, targets, masks)]
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)


def test_constant_generated_image_is_nan_and_threads_do_not_change_scores():
    rng = np.random.default_rng(4)
    generated = rng.integers(0, 256, (6, 128, 64, 3), dtype=np.uint8)
    targets = rng.integers(0, 256, (6, 128, 64, 3), dtype=np.uint8)
    generated[2] = 90
    taps = gaussian_taps(TRUNCATE["legacy-13"])
    one, two = run_ssim(generated, targets, None, 0, taps, CROP, 1), run_ssim(generated, targets, None, 0, taps, CROP, 2)
    assert np.isnan(one[2]) and np.array_equal(np.isnan(one), np.isnan(two))
    np.testing.assert_array_equal(one[~np.isnan(one)], two[~np.isnan(two)])
