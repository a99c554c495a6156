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


def test_a_constant_generated_image_leaves_the_other_pairs_of_its_batch_scored():
    """A constant black generated image (data_range 0) over a black target region used to raise 0/0 inside the
    parallel loop and leave the rest of its thread's share of the batch unwritten (found scoring 256x256 images
    of an untrained model, where most outputs are constant). Every other pair must get the score it gets alone, which is scikit-image's."""
    rng = np.random.default_rng(11)
    n, size = 24, (40, 36)
    targets = rng.integers(0, 256, (n, *size, 3)).astype(np.uint8)
    targets[:, :, :18] = 0  # black where the constant images are black too: 0/0 in both SSIM factors when C1 = C2 = 0
    generated = np.where(rng.random((n, *size, 3)) < 0.5, 127, 128).astype(np.uint8)  # data_range 1: tiny C1, C2
    generated[::3] = 0  # constant black: undefined
    taps = gaussian_taps(TRUNCATE["skimage-11"])
    for threads in (1, 2):
        out = run_ssim(generated, targets, None, 0, taps, CROP, threads)
        assert np.isnan(out[::3]).all()
        for i in np.nonzero(np.arange(n) % 3)[0]:
            assert out[i] == pytest.approx(authors_ssim(targets[i], generated[i]), abs=1e-9)
