"""Flow sampling ops and flow losses against brute-force loops written from the CUDA kernels' maths."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from baselines.layers.flow import (
    affine_regularization,
    block_extractor,
    local_attn_reshape,
    resample2d,
    sampling_correctness,
    warp,
)


def random_flow(b: int, h: int, w: int, scale: float = 2.5, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(b, 2, h, w, generator=g, dtype=torch.float64) * 2 - 1) * scale


def clamp(i: int, n: int) -> int:
    return max(min(i, n - 1), 0)


def brute_resample(src: np.ndarray, flow: np.ndarray, kernel: int = 4, sigma: float = 2.0) -> np.ndarray:
    """resample2d_kernel.cu forward, one output element at a time."""
    b, c, hs, ws = src.shape
    _, _, h, w = flow.shape
    out = np.zeros((b, c, h, w))
    for n in range(b):
        for y in range(h):
            for x in range(w):
                yf, xf = y + flow[n, 1, y, x], x + flow[n, 0, y, x]
                beta, alpha = yf - math.floor(yf), xf - math.floor(xf)
                val, total = np.zeros(c), 0.0
                for fy in range(kernel // 2):
                    yt, yb = clamp(math.floor(yf) - fy, hs), clamp(math.floor(yf) + fy + 1, hs)
                    pt, pb = math.exp(-(fy + beta) ** 2 / (2 * sigma**2)), math.exp(-(fy + 1 - beta) ** 2 / (2 * sigma**2))
                    for fx in range(kernel // 2):
                        xl, xr = clamp(math.floor(xf) - fx, ws), clamp(math.floor(xf) + fx + 1, ws)
                        pl, pr = math.exp(-(fx + alpha) ** 2 / (2 * sigma**2)), math.exp(-(fx + 1 - alpha) ** 2 / (2 * sigma**2))
                        val += pt * pl * src[n, :, yt, xl] + pt * pr * src[n, :, yt, xr]
                        val += pb * pl * src[n, :, yb, xl] + pb * pr * src[n, :, yb, xr]
                        total += pt * pl + pt * pr + pb * pl + pb * pr
                out[n, :, y, x] = val / total
    return out


def brute_bilinear(src: np.ndarray, n: int, y: float, x: float) -> np.ndarray:
    hs, ws = src.shape[-2:]
    y0, x0 = math.floor(y), math.floor(x)
    wy, wx = y - y0, x - x0
    at = lambda dy, dx: src[n, :, clamp(y0 + dy, hs), clamp(x0 + dx, ws)]  # noqa: E731
    return (1 - wy) * (1 - wx) * at(0, 0) + (1 - wy) * wx * at(0, 1) + wy * (1 - wx) * at(1, 0) + wy * wx * at(1, 1)


def brute_blocks(src: np.ndarray, flow: np.ndarray, k: int) -> np.ndarray:
    """block_extractor_kernel.cu forward, one output pixel at a time."""
    b, c = src.shape[:2]
    h, w = flow.shape[-2:]
    out = np.zeros((b, c, k * h, k * w))
    for n in range(b):
        for y in range(k * h):
            for x in range(k * w):
                yf, xf = y // k, x // k
                sy = yf + flow[n, 1, yf, xf] + y % k - k // 2
                sx = xf + flow[n, 0, yf, xf] + x % k - k // 2
                out[n, :, y, x] = brute_bilinear(src, n, sy, sx)
    return out


# --------------------------------------------------------------------------------------
# Resample2d


def test_resample2d_matches_the_cuda_formula_elementwise():
    g = torch.Generator().manual_seed(1)
    src = torch.randn(2, 3, 6, 5, generator=g, dtype=torch.float64)
    flow = random_flow(2, 6, 5, scale=3.0)  # reaches past every border
    expected = brute_resample(src.numpy(), flow.numpy())
    np.testing.assert_allclose(resample2d(src, flow).numpy(), expected, rtol=1e-10, atol=1e-12)


def test_resample2d_zero_flow_is_the_asymmetric_gaussian_blur():
    # Taps at offsets -1, 0, +1, +2 with weights exp(-d^2/8): a 4x4 filter with replicated borders.
    g = torch.Generator().manual_seed(2)
    src = torch.randn(1, 2, 7, 6, generator=g, dtype=torch.float64)
    taps = torch.exp(-torch.tensor([1.0, 0.0, 1.0, 4.0], dtype=torch.float64) / 8)
    kernel = torch.outer(taps, taps) / taps.sum() ** 2
    padded = F.pad(src, (1, 2, 1, 2), mode="replicate")
    expected = F.conv2d(padded, kernel.expand(2, 1, 4, 4), groups=2)
    torch.testing.assert_close(resample2d(src, torch.zeros(1, 2, 7, 6, dtype=torch.float64)), expected)


def test_resample2d_with_tiny_sigma_translates_by_an_integer_flow():
    g = torch.Generator().manual_seed(3)
    src = torch.randn(1, 2, 8, 9, generator=g, dtype=torch.float64)
    flow = torch.zeros(1, 2, 8, 9, dtype=torch.float64)
    flow[:, 0], flow[:, 1] = 2, -1  # sample 2 columns right, 1 row up
    out = resample2d(src, flow, sigma=0.05)
    torch.testing.assert_close(out[..., 1:, :7], src[..., :-1, 2:])


def test_resample2d_keeps_constant_maps_and_gives_flow_gradients():
    flow = random_flow(1, 5, 4).requires_grad_()
    const = torch.full((1, 3, 5, 4), 0.7, dtype=torch.float64)
    torch.testing.assert_close(resample2d(const, flow), const)
    src = torch.randn(1, 3, 5, 4, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda f: resample2d(src, f), (flow,))


# --------------------------------------------------------------------------------------
# BlockExtractor, LocalAttnReshape, warp


@pytest.mark.parametrize("k", [1, 3, 4, 5])
def test_block_extractor_matches_a_brute_force_loop(k):
    g = torch.Generator().manual_seed(k)
    src = torch.randn(2, 3, 5, 4, generator=g, dtype=torch.float64)
    flow = random_flow(2, 5, 4, scale=3.0, seed=k)
    out = block_extractor(src, flow, k)
    assert out.shape == (2, 3, 5 * k, 4 * k)
    np.testing.assert_allclose(out.numpy(), brute_blocks(src.numpy(), flow.numpy(), k), atol=1e-9)


def test_block_extractor_zero_flow_gives_plain_patches():
    src = torch.arange(20, dtype=torch.float64).view(1, 1, 4, 5)
    out = block_extractor(src, torch.zeros(1, 2, 4, 5, dtype=torch.float64), 3)
    expected = F.unfold(F.pad(src, (1, 1, 1, 1), mode="replicate"), 3)  # (1, 9, 20): patch per location
    for y in range(4):
        for x in range(5):
            torch.testing.assert_close(out[0, 0, 3 * y: 3 * y + 3, 3 * x: 3 * x + 3].reshape(9), expected[0, :, 5 * y + x])


def test_warp_identity_and_integer_translation():
    g = torch.Generator().manual_seed(4)
    src = torch.randn(2, 3, 6, 7, generator=g, dtype=torch.float64)
    torch.testing.assert_close(warp(src, torch.zeros(2, 2, 6, 7, dtype=torch.float64)), src)
    flow = torch.zeros(2, 2, 6, 7, dtype=torch.float64)
    flow[:, 0], flow[:, 1] = -3, 2
    out = warp(src, flow)
    torch.testing.assert_close(out[..., :4, 3:], src[..., 2:, :4])
    torch.testing.assert_close(block_extractor(src, flow, 1), out)


def test_local_attn_reshape_matches_the_kernel_indexing():
    k = 3
    x = torch.randn(2, k * k, 4, 5)
    out = local_attn_reshape(x, k)
    assert out.shape == (2, 1, 12, 15)
    for y in range(12):
        for xx in range(15):
            assert torch.equal(out[:, 0, y, xx], x[:, (y % k) * k + xx % k, y // k, xx // k])
    with pytest.raises(ValueError, match="9 channels"):
        local_attn_reshape(torch.zeros(1, 4, 2, 2), 3)


# --------------------------------------------------------------------------------------
# Sampling correctness


def brute_correctness(src: np.ndarray, tgt: np.ndarray, flow: np.ndarray, eps: float = 1e-8) -> float:
    b, c, h, w = src.shape
    sampled = brute_resample(src, flow).reshape(b, c, -1)
    s, t = src.reshape(b, c, -1), tgt.reshape(b, c, -1)
    total = 0.0
    for n in range(b):
        for j in range(h * w):
            best = max(s[n, :, i] @ t[n, :, j] / ((np.linalg.norm(s[n, :, i]) + eps) * (np.linalg.norm(t[n, :, j]) + eps))
                       for i in range(h * w))
            cos = sampled[n, :, j] @ t[n, :, j] / max(np.linalg.norm(sampled[n, :, j]) * np.linalg.norm(t[n, :, j]), eps)
            total += math.exp(-cos / (best + eps))
    return total / (b * h * w) - math.exp(-1)


def test_correctness_matches_an_independent_computation():
    g = torch.Generator().manual_seed(5)
    src = torch.rand(2, 4, 5, 4, generator=g, dtype=torch.float64)  # post-ReLU-like features
    tgt = torch.rand(2, 4, 5, 4, generator=g, dtype=torch.float64)
    flow = random_flow(2, 5, 4)
    expected = brute_correctness(src.numpy(), tgt.numpy(), flow.numpy())
    assert sampling_correctness(src, tgt, flow).item() == pytest.approx(expected, rel=1e-9)


def test_correctness_bounds_on_hand_made_features():
    vector = torch.tensor([0.3, 1.0, 0.0, 2.0], dtype=torch.float64).view(1, 4, 1, 1)
    same = vector.expand(1, 4, 6, 5).contiguous()
    # Every location already samples a perfect match: the e^-1 offset brings the minimum to 0.
    assert sampling_correctness(same, same, random_flow(1, 6, 5)).item() == pytest.approx(0.0, abs=1e-7)  # eps terms
    # A zero target feature has no match anywhere: exp(0) - e^-1 per location.
    zero = torch.zeros_like(same)
    assert sampling_correctness(same, zero, random_flow(1, 6, 5)).item() == pytest.approx(1 - math.exp(-1))
    # Orthogonal features (one-hot source, other channel target): cosine 0 everywhere, ratio 0/0 -> 0.
    src = torch.zeros(1, 2, 3, 3, dtype=torch.float64)
    src[:, 0] = 1
    tgt = torch.zeros_like(src)
    tgt[:, 1] = 1
    assert sampling_correctness(src, tgt, torch.zeros(1, 2, 3, 3, dtype=torch.float64)).item() == pytest.approx(1 - math.exp(-1))


def test_correctness_rewards_the_true_displacement():
    # The target is the source moved 2 px right; the flow that points back scores better than zero flow.
    g = torch.Generator().manual_seed(6)
    src = torch.rand(1, 8, 10, 12, generator=g, dtype=torch.float64)
    tgt = torch.roll(src, 2, dims=-1)
    true = torch.zeros(1, 2, 10, 12, dtype=torch.float64)
    true[:, 0] = -2
    zero = torch.zeros_like(true)
    assert sampling_correctness(src, tgt, true) < sampling_correctness(src, tgt, zero)
    flow = zero.clone().requires_grad_()
    sampling_correctness(src, tgt, flow).backward()
    assert torch.isfinite(flow.grad).all() and flow.grad.abs().sum() > 0


# --------------------------------------------------------------------------------------
# Affine regularisation


def brute_affine(flow: np.ndarray, k: int) -> float:
    """Sum over components of the mean (over windows and batch) squared residual of an lstsq affine fit."""
    b, _, h, w = flow.shape
    rows, cols = np.divmod(np.arange(k * k), k)
    design = np.stack([rows, cols, np.ones(k * k)], axis=1)
    total = 0.0
    for comp in range(2):
        residuals = []
        for n in range(b):
            for y in range(h - k + 1):
                for x in range(w - k + 1):
                    patch = flow[n, comp, y: y + k, x: x + k].reshape(-1)
                    coef = np.linalg.lstsq(design, patch, rcond=None)[0]
                    residuals.append(((design @ coef - patch) ** 2).sum())
        total += np.mean(residuals)
    return total


@pytest.mark.parametrize("k", [3, 5])
def test_affine_regularization_is_the_least_squares_residual(k):
    flow = random_flow(2, 7, 6, seed=k)
    assert affine_regularization(flow, k).item() == pytest.approx(brute_affine(flow.numpy(), k), rel=1e-9)


def test_affine_regularization_vanishes_on_affine_flows():
    ys, xs = torch.meshgrid(torch.arange(8.0), torch.arange(6.0), indexing="ij")
    flow = torch.stack([0.3 * xs - 1.2 * ys + 4, -0.7 * xs + 0.1 * ys - 2]).unsqueeze(0).double()
    assert affine_regularization(flow, 3).item() == pytest.approx(0.0, abs=1e-9)
    bumped = flow.clone()
    bumped[0, 0, 4, 3] += 1.0
    assert affine_regularization(bumped, 3).item() > 1e-3
