"""Pixel metrics (SSIM + mask-SSIM + PSNR) batched in torch vs the per-image scikit-image loop.

Run with ``pytest tests/benchmarks/test_pixel_metrics_speed.py -q --benchmark-only`` (pyproject's
``--benchmark-skip`` wins over ``--benchmark-enable``). Several minutes: the loop is ~50 s on an idle machine.
Market: all 12,000 test pairs (128x64), both sides in full (the loop: one round).
DeepFashion (176 wide, padded to 256x256): 400 pairs batched vs 200 in the loop;
compare ``extra_info['ms_per_pair']``. Masks are given (built once, not timed).
The batched path is the protocol default: 13-tap kernel, float64.
"""
from __future__ import annotations

import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from bench.data.layout import KINDS
from bench.metrics.psnr import psnr_scores
from bench.metrics.ssim import FASHION_PAD, ssim_scores


def synthetic_pairs(n: int, size: tuple[int, int], seed: int = 0):
    """Random images and body-like rectangle masks (the cost does not depend on the content)."""
    rng = np.random.default_rng(seed)
    generated = rng.integers(0, 256, (n, *size, 3), dtype=np.uint8)
    targets = rng.integers(0, 256, (n, *size, 3), dtype=np.uint8)
    h, w = size
    masks = np.zeros((n, h, w), bool)
    top, left = rng.integers(0, h // 8, n), rng.integers(0, w // 4, n)
    for i in range(n):
        masks[i, top[i] : top[i] + 3 * h // 4, left[i] : left[i] + w // 2] = True
    return generated, targets, masks


def batched(generated, targets, masks, pad: int = 0, precision: str = "float64"):
    ssim = ssim_scores(generated, targets, "legacy-13", pad=pad, precision=precision)
    mask_ssim = ssim_scores(generated, targets, "legacy-13", masks=masks, pad=pad, precision=precision)
    return ssim, mask_ssim, psnr_scores(generated, targets)


def skimage_loop(generated, targets, masks, pad: int = 0):
    def frame(image, value):
        return np.pad(image, ((0, 0), (pad, pad), (0, 0)), constant_values=value) if pad else image

    def ssim(t, g):
        return structural_similarity(t, g, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                     channel_axis=-1, data_range=g.max() - g.min())

    out = []
    for g, t, m in zip(generated, targets, masks):
        m = m[..., None].astype(np.uint8)
        out.append((ssim(frame(t, 255), frame(g, 255)), ssim(frame(t * m, 0), frame(g * m, 0)),
                    peak_signal_noise_ratio(t, g, data_range=255)))
    return np.array(out)


@pytest.fixture(scope="module")
def market():
    return synthetic_pairs(12000, KINDS["market"].image_size)


@pytest.fixture(scope="module")
def fashion():
    return synthetic_pairs(400, KINDS["deepfashion"].image_size, seed=1)


def _per_pair(benchmark, n: int) -> None:
    benchmark.extra_info["pairs"] = n
    benchmark.extra_info["ms_per_pair"] = benchmark.stats.stats.min / n * 1e3


@pytest.mark.parametrize("precision", ["float64", "float32"])
def test_pixel_metrics_batched_market_12000(benchmark, market, precision):
    benchmark.group = "pixel-market"
    ssim, mask_ssim, psnr = benchmark.pedantic(batched, args=market, kwargs={"precision": precision}, rounds=2, iterations=1)
    assert ssim.shape == mask_ssim.shape == psnr.shape == (12000,) and np.isfinite(ssim).all()
    _per_pair(benchmark, 12000)


def test_pixel_metrics_skimage_loop_market_12000(benchmark, market):
    benchmark.group = "pixel-market"
    scores = benchmark.pedantic(skimage_loop, args=market, rounds=1, iterations=1)
    assert scores.shape == (12000, 3)
    _per_pair(benchmark, 12000)


def test_pixel_metrics_batched_deepfashion_400(benchmark, fashion):
    benchmark.group = "pixel-deepfashion"
    ssim, _, _ = benchmark.pedantic(batched, args=fashion, kwargs={"pad": FASHION_PAD}, rounds=2, iterations=1)
    assert ssim.shape == (400,)
    _per_pair(benchmark, 400)


def test_pixel_metrics_skimage_loop_deepfashion_200(benchmark, fashion):
    benchmark.group = "pixel-deepfashion"
    subset = tuple(a[:200] for a in fashion)
    scores = benchmark.pedantic(skimage_loop, args=subset, kwargs={"pad": FASHION_PAD}, rounds=1, iterations=1)
    batched_ssim = ssim_scores(subset[0], subset[1], "skimage-11", pad=FASHION_PAD)
    np.testing.assert_allclose(batched_ssim, scores[:, 0], atol=1e-9)  # same numbers, not just fast
    _per_pair(benchmark, 200)
