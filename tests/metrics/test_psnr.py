"""PSNR / mask-PSNR against scikit-image, and the uint8-wrap PSNR of PISE against numpy's uint8 arithmetic."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio

from bench.data.layout import KINDS, DatasetLayout
from bench.metrics import psnr as psnr_module
from bench.metrics.base import EvalInputs
from bench.metrics.protocol import get_protocol
from bench.metrics.psnr import psnr_scores, wrapped_psnr_scores
from bench.registry import METRICS

MARKET = KINDS["market"].image_size


def skimage_psnr(target: np.ndarray, generated: np.ndarray) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # divide by zero for identical images
        return peak_signal_noise_ratio(target, generated, data_range=255)


def pise_psnr(orig: np.ndarray, target: np.ndarray) -> float:
    """PISE util/psnr.py `psnr_` on uint8 arrays, as written there."""
    with np.errstate(divide="ignore"):
        mse = ((orig - target) ** 2).mean(axis=(-3, -2, -1))
        return 20 * np.log10(255) - 10 * np.log10(mse)


@pytest.fixture(scope="module")
def pairs():
    rng = np.random.default_rng(0)
    targets = rng.integers(0, 256, (9, *MARKET, 3), dtype=np.uint8)
    generated = np.clip(targets + rng.normal(0, 50, targets.shape), 0, 255).astype(np.uint8)
    generated[1] = rng.integers(0, 256, (*MARKET, 3))  # independent
    generated[2] = targets[2]  # identical
    generated[3] = targets[3] // 2 + 60  # structured difference
    return generated, targets


def test_psnr_equals_scikit_image(pairs):
    generated, targets = pairs
    expected = np.array([skimage_psnr(t, g) for g, t in zip(generated, targets)])
    got = psnr_scores(generated, targets)
    assert np.isinf(expected[2]) and np.isinf(got[2])  # identical images: inf, as scikit-image
    finite = np.isfinite(expected)
    np.testing.assert_allclose(got[finite], expected[finite], rtol=0, atol=1e-12)


def test_mask_psnr_equals_scikit_image_on_masked_images(pairs):
    generated, targets = pairs
    masks = np.zeros(generated.shape[:3], bool)
    masks[:, 20:110, 15:50] = True
    m = masks[..., None].astype(np.uint8)
    expected = np.array([skimage_psnr(t * mm, g * mm) for g, t, mm in zip(generated, targets, m)])
    got = psnr_scores(generated, targets, masks)
    finite = np.isfinite(expected)
    np.testing.assert_allclose(got[finite], expected[finite], atol=1e-12)
    unmasked = psnr_scores(generated, targets)
    assert np.all(got[finite] > unmasked[finite])  # the black background adds no error


def test_wrapped_psnr_is_numpy_uint8_arithmetic(pairs):
    generated, targets = pairs
    expected = np.array([pise_psnr(g, t) for g, t in zip(generated, targets)])
    got = wrapped_psnr_scores(generated, targets, chunk=4)
    np.testing.assert_array_equal(np.isinf(got), np.isinf(expected))
    np.testing.assert_allclose(got[np.isfinite(got)], expected[np.isfinite(expected)], atol=1e-12)
    assert np.all(got >= 20 * math.log10(255) - 10 * math.log10(255) - 1e-12)  # squared error wraps to <= 255


def test_wrapped_psnr_inflates_as_protocol_section_6_says():
    rng = np.random.default_rng(1)
    a = rng.integers(0, 256, (4, *MARKET, 3), dtype=np.uint8)
    b = rng.integers(0, 256, (4, *MARKET, 3), dtype=np.uint8)
    wrapped = wrapped_psnr_scores(a, b)
    np.testing.assert_allclose(wrapped, 27.9, atol=0.1)  # independent random images: ~27.9 dB
    assert np.all(psnr_scores(a, b) < 8)  # the float PSNR of independent images is ~7.7 dB
    noisy = np.clip(a + rng.normal(0, 50, a.shape), 0, 255).astype(np.uint8)
    assert psnr_scores(noisy, a).mean() == pytest.approx(14.75, abs=0.5)  # protocol.md §6: true 14.75 dB
    assert wrapped_psnr_scores(noisy, a).mean() == pytest.approx(27.94, abs=0.2)  # wrapped 27.94 dB


def _inputs(tmp_path, generated, targets) -> EvalInputs:
    n = len(generated)
    kp = np.full((n, 18, 2), -1)
    return EvalInputs(generated=generated, targets=targets, target_keypoints=kp,
                      pairs=[(f"a{i}.jpg", f"b{i}.jpg") for i in range(n)], layout=DatasetLayout(tmp_path, KINDS["market"]))


def test_registered_metrics(tmp_path, pairs, monkeypatch):
    generated, targets = pairs
    inputs = _inputs(tmp_path, generated, targets)
    protocol = get_protocol("paper")
    result = METRICS.get("psnr").constructor(inputs, protocol)
    # EXCLUSION_RULE: the identical pair (+inf; np.mean would give inf) is left out of the mean and counted.
    assert np.isinf(result.per_pair[2]) and result.details["identical"] == 1
    keep = np.arange(len(generated)) != 2
    assert result.value == pytest.approx(np.mean([skimage_psnr(t, g) for g, t in zip(generated[keep], targets[keep])]), abs=1e-12)

    masks = np.zeros(generated.shape[:3], bool)
    masks[:, 40:90, 10:40] = True
    monkeypatch.setattr(psnr_module, "target_masks", lambda _: masks)
    masked = METRICS.get("mask-psnr").constructor(inputs, protocol)
    np.testing.assert_allclose(masked.per_pair, psnr_scores(generated, targets, masks))

    wrapped = METRICS.get("psnr-uint8-wrap")
    assert "uint8-wrap" in wrapped.meta.convention and METRICS.get("psnr").meta.convention == "float"
    result = wrapped.constructor(inputs, protocol)
    assert result.details["convention"] == "uint8-wrap"
    np.testing.assert_allclose(result.per_pair[keep], [pise_psnr(g, t) for g, t in zip(generated[keep], targets[keep])])
