"""Pixel metrics (SSIM + mask-SSIM + PSNR) batched in torch vs the per-image scikit-image loop.

Run with ``pytest tests/benchmarks/test_pixel_metrics_speed.py -q --benchmark-only`` (pyproject's
``--benchmark-skip`` wins over ``--benchmark-enable``); about two minutes.
Issue 7's target: the three metrics over 12,000 Market pairs (128x64) >= 10x faster than the
scikit-image loop on 2 cores. ``test_market_12000_vs_skimage_loop`` times the batched default
("checked" precision, 13-tap kernel) on all 12,000 pairs and the loop on the first
``LOOP_PAIRS`` only, extrapolated per pair, and prints the ratio (wall and CPU time).
The other tests compare the precisions and DeepFashion (176 wide, padded to 256x256; 400 pairs
batched vs 200 in the loop; compare ``extra_info['ms_per_pair']``). Masks are given (built once,
not timed). Random images: no pair needs the float64 recomputation (see bench/metrics/ssim.py for
real images, where some do).
"""
from __future__ import annotations

import time

import numpy as np
import pytest
import torch
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


LOOP_PAIRS = 1000


def batched(generated, targets, masks, pad: int = 0, precision: str = "checked", kernel: str = "legacy-13"):
    ssim = ssim_scores(generated, targets, kernel, pad=pad, precision=precision)
    mask_ssim = ssim_scores(generated, targets, kernel, masks=masks, pad=pad, precision=precision)
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


def timed(fn, *args) -> tuple[float, float]:
    """(wall, CPU) seconds of one call; CPU time sums every thread of the process."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn(*args)
    return time.perf_counter() - wall, time.process_time() - cpu


def test_market_12000_vs_skimage_loop(benchmark, market, capsys):
    benchmark.group = "pixel-market"
    n = len(market[0])
    subset = tuple(a[:LOOP_PAIRS] for a in market)
    loop_wall, loop_cpu = timed(skimage_loop, *subset)
    ssim, mask_ssim, psnr = benchmark.pedantic(batched, args=market, rounds=3, iterations=1)
    first = tuple(a[:200] for a in market)  # same numbers, not just fast (the loop has today's 11 taps)
    np.testing.assert_allclose(np.stack(batched(*first, kernel="skimage-11"), 1), skimage_loop(*first), rtol=0, atol=1e-5)
    _, batched_cpu = timed(batched, *market)
    loop_ms, ours_ms = loop_wall / LOOP_PAIRS * 1e3, benchmark.stats.stats.min / n * 1e3
    ratio, cpu_ratio = loop_ms / ours_ms, (loop_cpu / LOOP_PAIRS) / (batched_cpu / n)
    benchmark.extra_info.update(pairs=n, ms_per_pair=ours_ms, loop_ms_per_pair=loop_ms, speedup=ratio, cpu_speedup=cpu_ratio)
    with capsys.disabled():
        print(f"\nssim + mask-ssim + psnr, Market 128x64, {torch.get_num_threads()} threads: batched {ours_ms:.3f} ms/pair "
              f"(best of 3 over {n} pairs), scikit-image loop {loop_ms:.3f} ms/pair (one run over the first "
              f"{LOOP_PAIRS}, extrapolated): {ratio:.1f}x wall, {cpu_ratio:.1f}x CPU time")


@pytest.mark.parametrize("precision", ["checked", "float64", "float32"])
def test_pixel_metrics_batched_market_12000(benchmark, market, precision):
    benchmark.group = "pixel-market"
    ssim, mask_ssim, psnr = benchmark.pedantic(batched, args=market, kwargs={"precision": precision}, rounds=2, iterations=1)
    assert ssim.shape == mask_ssim.shape == psnr.shape == (12000,) and np.isfinite(ssim).all()
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
    np.testing.assert_allclose(batched_ssim, scores[:, 0], atol=1e-5)  # same numbers, not just fast
    _per_pair(benchmark, 200)
