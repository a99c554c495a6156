"""Batched SSIM / mask-SSIM against scikit-image's structural_similarity, image by image.

References: today's ``skimage.metrics.structural_similarity`` with the authors'
arguments (the "skimage-11" kernel), and for "legacy-13" the scikit-image <= 0.14
algorithm written out here on ``scipy.ndimage.gaussian_filter(truncate=4.0)``.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.ndimage import gaussian_filter
from skimage.metrics import structural_similarity

from bench.data.layout import KINDS, DatasetLayout
from bench.metrics import ssim as ssim_module
from bench.metrics.base import EvalInputs
from bench.metrics.protocol import get_protocol
from bench.metrics.ssim import filter_matrix, gaussian_taps, ssim_scores
from bench.registry import METRICS

MARKET = KINDS["market"].image_size


def authors_ssim(target: np.ndarray, generated: np.ndarray) -> float:
    """The published call, on today's scikit-image (11 taps)."""
    return structural_similarity(target, generated, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                 channel_axis=-1, data_range=generated.max() - generated.min())


def legacy_ssim(target: np.ndarray, generated: np.ndarray) -> float:
    """scikit-image 0.14 compare_ssim with the authors' arguments: gaussian_filter(sigma=1.5), default truncate 4.0."""
    data_range = float(generated.max()) - float(generated.min())
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    scores = []
    for ch in range(target.shape[-1]):
        x, y = target[..., ch].astype(np.float64), generated[..., ch].astype(np.float64)
        f = lambda a: gaussian_filter(a, sigma=1.5, truncate=4.0)  # noqa: E731
        ux, uy = f(x), f(y)
        vx, vy, vxy = f(x * x) - ux * ux, f(y * y) - uy * uy, f(x * y) - ux * uy
        s = (2 * ux * uy + c1) * (2 * vxy + c2) / ((ux**2 + uy**2 + c1) * (vx + vy + c2))
        scores.append(s[5:-5, 5:-5].mean())  # crop (win_size 11 - 1) // 2
    return float(np.mean(scores))


def smooth_scene(rng: np.random.Generator, n: int, size: tuple[int, int]) -> np.ndarray:
    """Real-looking uint8 images: gradients, a hard-edged body, flat white background."""
    h, w = size
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    out = np.empty((n, h, w, 3), np.uint8)
    for i in range(n):
        a, b, c = rng.uniform(-200, 200, 3)
        image = np.stack([a * yy + b * xx + c + 128 + 20 * ch for ch in range(3)], -1)
        image[: h // 4] = 255  # flat white band
        top, left = rng.integers(h // 4, h // 2), rng.integers(0, w // 3)
        image[top : top + h // 3, left : left + w // 3] = rng.integers(0, 256, 3)  # an edge-bounded block
        image += rng.normal(0, 3, image.shape)
        out[i] = np.clip(image, 0, 255).astype(np.uint8)
    return out


@pytest.fixture(scope="module")
def random_pairs():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (7, *MARKET, 3), dtype=np.uint8), rng.integers(0, 256, (7, *MARKET, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def scene_pairs():
    rng = np.random.default_rng(1)
    targets = smooth_scene(rng, 8, MARKET)
    generated = smooth_scene(rng, 8, MARKET)
    generated[0] = targets[0]  # identical pair
    generated[1] = np.clip(targets[1].astype(int) + 9, 0, 255)  # constant offset over flat regions
    generated[2] = 255 - targets[2]  # white against black
    generated[3, :, :] = 100  # nearly constant generated: data_range 2
    generated[3, 5:9, 5:9] = 102
    generated[4] = 90 + (targets[4] > 128)  # data_range 1
    generated[5][:64] = 0
    generated[5][64:] = 255  # flat halves, differences up to 255
    return generated, targets


@pytest.mark.parametrize("truncate, taps", [(4.0, 13), (3.5, 11)])
def test_filter_matrix_is_the_cropped_gaussian_filter(truncate, taps):
    assert len(gaussian_taps(truncate)) == taps
    signal = np.random.default_rng(2).normal(size=(40, 3))
    expected = gaussian_filter(signal, sigma=1.5, truncate=truncate, axes=(0,), mode="reflect")[5:-5]
    np.testing.assert_allclose(filter_matrix(40, gaussian_taps(truncate), 5) @ signal, expected, atol=1e-12)


@pytest.mark.parametrize("pairs, precision, tol", [("random_pairs", "float64", 1e-12), ("scene_pairs", "float64", 1e-9),
                                                   ("random_pairs", "checked", 1e-5), ("scene_pairs", "checked", 1e-5)])
def test_equals_scikit_image_per_image(pairs, precision, tol, request):
    """float64 rounding differs from scikit-image's by ~1e-15, amplified ~1e5x when data_range is 1."""
    generated, targets = request.getfixturevalue(pairs)
    expected = np.array([authors_ssim(t, g) for g, t in zip(generated, targets)])
    got = ssim_scores(generated, targets, "skimage-11", chunk=3, precision=precision)
    assert got.shape == (len(generated),)
    np.testing.assert_allclose(got, expected, rtol=0, atol=tol)


def test_legacy_kernel_equals_gaussian_filter_truncate_4(scene_pairs, random_pairs):
    generated = np.concatenate([scene_pairs[0], random_pairs[0]])
    targets = np.concatenate([scene_pairs[1], random_pairs[1]])
    expected = np.array([legacy_ssim(t, g) for g, t in zip(generated, targets)])
    got = ssim_scores(generated, targets, "legacy-13", precision="float64")
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9)
    np.testing.assert_allclose(ssim_scores(generated, targets, "legacy-13"), expected, rtol=0, atol=1e-5)
    modern = ssim_scores(generated, targets, "skimage-11", precision="float64")
    assert np.abs(got - modern).max() > 1e-4  # the two conventions really differ


def test_float32_option_is_close_on_random_images(random_pairs):
    """float32 is documented as an approximation: fine on noise, not guaranteed on flat offsets."""
    generated, targets = random_pairs
    expected = np.array([authors_ssim(t, g) for g, t in zip(generated, targets)])
    np.testing.assert_allclose(ssim_scores(generated, targets, "skimage-11", precision="float32"), expected, atol=1e-5)


def test_checked_precision_recomputes_what_float32_gets_wrong(scene_pairs):
    """The adversarial scenes (constant offsets, data_range 1 and 2) are beyond float32; "checked" sends them to float64."""
    generated, targets = scene_pairs
    exact = ssim_scores(generated, targets, "legacy-13", precision="float64")
    assert np.abs(ssim_scores(generated, targets, "legacy-13", precision="float32") - exact).max() > 1e-5
    counts = {}
    checked = ssim_scores(generated, targets, "legacy-13", precision="checked", details=counts)
    assert 0 < counts["float64_pairs"] < len(generated)  # the white-against-black and identical pairs stay float32
    np.testing.assert_allclose(checked, exact, rtol=0, atol=1e-6)
    assert ssim_scores(generated, targets, "legacy-13", precision="checked", tolerance=0.0, details=counts) == pytest.approx(exact, abs=1e-12)
    assert counts["float64_pairs"] == len(generated)


@pytest.mark.parametrize("kernel", ["legacy-13", "skimage-11"])
def test_float32_rounding_of_flat_windows_is_within_kappa(kernel):
    """KAPPA covers the systematic float32 error: the variance of every constant window v in [-510, 510] is
    computed within KAPPA * u * v² of 0 (u = 2**-24), the flat-region error the estimate scales."""
    values = torch.arange(-510, 511, dtype=torch.float32)
    m = 2 * len(values)
    maps = torch.cat([values, values * values]).expand(1, 20, 20, m)  # (1, H, W, maps): the channels-last layout
    across, down = ssim_module.conv_taps(kernel, m)
    out = F.conv2d(F.conv2d(maps.permute(0, 3, 1, 2), across, groups=m), down, groups=m)
    mean, moment = out[0, : len(values)], out[0, len(values) :]
    variance = (moment - mean * mean).abs().amax(dim=(1, 2)).double()
    worst = (variance[values != 0] / (ssim_module.UNIT_ROUNDOFF32 * values[values != 0].double() ** 2)).max()
    assert 1 < worst < ssim_module.KAPPA  # rounding is real (not exact) and bounded


def test_identical_images_score_one(scene_pairs):
    targets = scene_pairs[1]
    np.testing.assert_allclose(ssim_scores(targets, targets), 1.0, atol=1e-6)


def test_masked_equals_scikit_image_on_masked_images(scene_pairs):
    generated, targets = scene_pairs
    masks = np.zeros(generated.shape[:3], bool)
    for i, mask in enumerate(masks):  # hand-made "bodies"
        mask[20 + i : 110, 16 : 40 + 2 * i] = True
        mask[30:50, 5:60] = True
    m = masks[..., None].astype(np.uint8)
    expected = np.array([authors_ssim(t * mm, g * mm) for g, t, mm in zip(generated, targets, m)])
    np.testing.assert_allclose(ssim_scores(generated, targets, "skimage-11", masks=masks), expected, atol=1e-5)


def test_fashion_padding_white_and_black_when_masked():
    rng = np.random.default_rng(3)
    size = KINDS["deepfashion"].image_size
    targets = smooth_scene(rng, 2, size)
    generated = smooth_scene(rng, 2, size)
    masks = np.zeros((2, *size), bool)
    masks[:, 40:200, 50:120] = True
    white = lambda a: np.pad(a, ((0, 0), (40, 40), (0, 0)), constant_values=255)  # noqa: E731
    black = lambda a: np.pad(a, ((0, 0), (40, 40), (0, 0)), constant_values=0)  # noqa: E731
    expected = [authors_ssim(white(t), white(g)) for g, t in zip(generated, targets)]
    np.testing.assert_allclose(ssim_scores(generated, targets, "skimage-11", pad=40), expected, atol=1e-5)
    m = masks[..., None].astype(np.uint8)
    expected = [authors_ssim(black(t * mm), black(g * mm)) for g, t, mm in zip(generated, targets, m)]
    np.testing.assert_allclose(ssim_scores(generated, targets, "skimage-11", masks=masks, pad=40), expected, atol=1e-5)


def test_constant_generated_image_is_undefined(random_pairs):
    generated, targets = random_pairs[0].copy(), random_pairs[1]
    generated[2] = 77
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        reference = authors_ssim(targets[2], generated[2])  # C1 = C2 = 0: 0/0 in flat windows, else ~0
    scores = ssim_scores(generated, targets)
    assert np.isnan(scores[2]) and not np.isnan(np.delete(scores, 2)).any()
    assert np.isnan(reference) or abs(reference) < 1e-6
    result = ssim_module._result(scores)
    assert result.details["constant_generated"] == 1
    assert result.value == pytest.approx(np.delete(scores, 2).mean())


def _inputs(tmp_path, kind: str, generated, targets) -> EvalInputs:
    rng = np.random.default_rng(4)
    n, (h, w) = len(generated), generated.shape[1:3]
    kp = np.stack([rng.integers(10, h - 10, (n, 18)), rng.integers(5, w - 5, (n, 18))], -1)
    kp[:, 3] = -1
    return EvalInputs(generated=generated, targets=targets, target_keypoints=kp,
                      pairs=[(f"a{i}.jpg", f"b{i}.jpg") for i in range(n)], layout=DatasetLayout(tmp_path, KINDS[kind]))


def test_registered_metrics_follow_the_protocol(tmp_path, scene_pairs, monkeypatch):
    generated, targets = scene_pairs
    inputs = _inputs(tmp_path, "market", generated, targets)
    modern, paper = get_protocol("modern"), get_protocol("paper")
    result = METRICS.get("ssim").constructor(inputs, modern)
    expected = np.array([authors_ssim(t, g) for g, t in zip(generated, targets)])
    np.testing.assert_allclose(result.per_pair, expected, atol=1e-5)
    assert result.value == pytest.approx(expected.mean(), abs=1e-5)
    assert result.details["kernel"] == "skimage-11"
    legacy = METRICS.get("ssim").constructor(inputs, paper)
    np.testing.assert_allclose(legacy.per_pair, [legacy_ssim(t, g) for g, t in zip(generated, targets)], atol=1e-5)

    masks = np.zeros(generated.shape[:3], bool)
    masks[:, 30:100, 10:50] = True
    monkeypatch.setattr(ssim_module, "target_masks", lambda _: masks)
    masked = METRICS.get("mask-ssim").constructor(inputs, modern)
    m = masks[..., None].astype(np.uint8)
    np.testing.assert_allclose(masked.per_pair, [authors_ssim(t * mm, g * mm) for g, t, mm in zip(generated, targets, m)], atol=1e-5)
    entry = METRICS.get("mask-ssim")
    assert entry.meta.higher_is_better and entry.meta.per_pair


def test_mask_ssim_uses_the_pg2_masks_of_the_target_keypoints(tmp_path, scene_pairs):
    from bench.data.masks import pg2_masks

    generated, targets = scene_pairs
    inputs = _inputs(tmp_path, "market", generated, targets)
    masks = pg2_masks(inputs.target_keypoints, MARKET)
    assert masks.any() and not masks.all()
    result = METRICS.get("mask-ssim").constructor(inputs, get_protocol("modern"))
    np.testing.assert_allclose(result.per_pair, ssim_scores(generated, targets, "skimage-11", masks=masks), atol=1e-12)


def test_fashion_metric_pads_to_256(tmp_path):
    rng = np.random.default_rng(5)
    size = KINDS["deepfashion"].image_size
    generated, targets = smooth_scene(rng, 2, size), smooth_scene(rng, 2, size)
    inputs = _inputs(tmp_path, "deepfashion", generated, targets)
    padded = METRICS.get("ssim").constructor(inputs, get_protocol("modern"))
    plain = METRICS.get("ssim").constructor(inputs, get_protocol("modern").replace(fashion_geometry="posegan"))  # pads nothing
    assert padded.details["pad"] == 40 and plain.details["pad"] == 0
    np.testing.assert_allclose(plain.per_pair, [authors_ssim(t, g) for g, t in zip(generated, targets)], atol=1e-5)
    assert np.all(padded.per_pair > plain.per_pair)  # identical white borders raise SSIM


def test_bad_inputs_are_refused(random_pairs):
    generated, targets = random_pairs
    with pytest.raises(ValueError, match="one shape"):
        ssim_scores(generated, targets[:, :, :32])
    with pytest.raises(ValueError, match="kernel"):
        ssim_scores(generated, targets, "gaussian-7")
    with pytest.raises(ValueError, match="precision"):
        ssim_scores(generated, targets, precision="half")
