"""Flow-field warping and sampling in pure PyTorch (CPU and GPU), and the losses on flows.

GFLA (Ren et al., CVPR 2020, RenYurui/Global-Flow-Local-Attention) ships three CUDA
extensions; this module reimplements their forward semantics exactly and lets autograd
derive the backward pass:

* ``Resample2d`` (``resample2d_package/resample2d_kernel.cu``): sample a feature map at
  ``(y + dy, x + dx)`` with a Gaussian-weighted ``kernel_size x kernel_size`` neighbourhood
  (GFLA's correctness loss: kernel 4, sigma 2, dilation 1);
* ``BlockExtractor`` (``block_extractor``): for every flow location, the ``k x k`` patch
  around the flow-shifted point, bilinearly sampled, tiled into a ``(k H, k W)`` map;
* ``LocalAttnReshape`` (``local_attn_reshape``): ``(B, k*k, H, W)`` attention weights to a
  ``(B, 1, k H, k W)`` map, patch-aligned with the block extractor's output.

Flows are ``(B, 2, H, W)`` in pixel units of the grid they live on; channel 0 is the
horizontal (x) and channel 1 the vertical (y) displacement; the value at target
location ``(y, x)`` says where in the source to sample. Out-of-range positions are clamped
to the border (every CUDA kernel clamps each neighbour index separately).

Where autograd differs from the CUDA backward: ``resample2d``'s gradient w.r.t. the input
uses ``int()`` truncation instead of ``floor`` in the original kernel, which is wrong for
negative sampling positions; here the gradient is the exact derivative of the forward.

The losses: :func:`sampling_correctness` (GFLA's ``PerceptualCorrectness``) and
:func:`affine_regularization` (``AffineRegularizationLoss``).
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

EPS = 1e-8


def _base_grid(flow: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Absolute sampling positions ``(ys, xs)``, each (B, H, W), of a flow."""
    _, _, h, w = flow.shape
    ys = torch.arange(h, dtype=flow.dtype, device=flow.device).view(1, h, 1) + flow[:, 1]
    xs = torch.arange(w, dtype=flow.dtype, device=flow.device).view(1, 1, w) + flow[:, 0]
    return ys, xs


# --------------------------------------------------------------------------------------
# Resample2d: Gaussian-weighted sampling


def _gaussian_taps(pos: torch.Tensor, kernel_size: int, dilation: int, sigma: float) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(integer index, weight) per tap along one axis, as the CUDA kernel enumerates them.

    For ``f < kernel_size // 2`` there is a tap ``f * dilation`` below ``floor(pos)`` at
    distance ``f * dilation + frac`` and one ``(f + 1) * dilation`` above at distance
    ``(f + 1) * dilation - frac``; each weighs ``exp(-d^2 / (2 sigma^2))``.
    """
    base = torch.floor(pos)
    frac = pos - base
    base = base.long()
    taps = []
    for f in range(kernel_size // 2):
        below, above = f * dilation, (f + 1) * dilation
        taps.append((base - below, torch.exp(-((below + frac) ** 2) / (2 * sigma**2))))
        taps.append((base + above, torch.exp(-((above - frac) ** 2) / (2 * sigma**2))))
    return taps


def resample2d(source: torch.Tensor, flow: torch.Tensor, kernel_size: int = 4, sigma: float = 2.0,
               dilation: int = 1) -> torch.Tensor:
    """``source`` (B, C, Hs, Ws) sampled at the flow's positions: (B, C, H, W) for a (B, 2, H, W) flow.

    The output is the normalised sum over the separable neighbourhood
    ``sum w_y w_x source[clamp(iy), clamp(ix)] / (sum w_y)(sum w_x)``. Even at zero flow
    this is a (slightly asymmetric) Gaussian blur, not the identity: taps sit at offsets
    -1, 0, +1, +2 for kernel 4.
    """
    if kernel_size < 2 or kernel_size % 2:
        raise ValueError(f"kernel_size must be even and >= 2, got {kernel_size}")
    if sigma <= 0:
        raise ValueError(f"sigma must be positive, got {sigma}")
    b, c, hs, ws = source.shape
    ys, xs = _base_grid(flow)
    rows = _gaussian_taps(ys, kernel_size, dilation, sigma)
    cols = _gaussian_taps(xs, kernel_size, dilation, sigma)
    # All k*k taps in one gather: index and weight (B, k*k, N), gathered values (B, C, k*k, N).
    index = torch.stack([(iy.clamp(0, hs - 1) * ws + ix.clamp(0, ws - 1)).flatten(1) for iy, _ in rows for ix, _ in cols], 1)
    weight = torch.stack([(wy * wx).flatten(1) for _, wy in rows for _, wx in cols], 1)
    taps = source.reshape(b, c, hs * ws).gather(2, index.view(b, 1, -1).expand(b, c, -1)).view(b, c, *index.shape[1:])
    norm = sum(w for _, w in rows) * sum(w for _, w in cols)
    out = torch.einsum("bckn,bkn->bcn", taps, weight / norm.view(b, 1, -1))
    return out.view(b, c, *flow.shape[-2:])


class Resample2d(nn.Module):
    """GFLA's ``Resample2d(kernel_size, dilation, sigma)`` as a module (no parameters)."""

    def __init__(self, kernel_size: int = 4, dilation: int = 1, sigma: float = 2.0):
        super().__init__()
        self.kernel_size, self.dilation, self.sigma = kernel_size, dilation, sigma

    def forward(self, source: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
        return resample2d(source, flow, self.kernel_size, self.sigma, self.dilation)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, dilation={self.dilation}, sigma={self.sigma}"


# --------------------------------------------------------------------------------------
# Bilinear sampling and patch extraction


def _sample_bilinear(source: torch.Tensor, ys: torch.Tensor, xs: torch.Tensor) -> torch.Tensor:
    """Bilinear samples of ``source`` at absolute pixel positions (B, H', W'), border-clamped.

    ``grid_sample`` with ``align_corners=True`` and ``padding_mode="border"`` equals the
    CUDA kernels' per-neighbour index clamping: the bilinear interpolant of a border-
    replicated map is constant outside ``[0, size - 1]``.
    """
    _, _, h, w = source.shape
    grid = torch.stack((2 * xs / max(w - 1, 1) - 1, 2 * ys / max(h - 1, 1) - 1), dim=-1)
    return F.grid_sample(source, grid.to(source.dtype), mode="bilinear", padding_mode="border", align_corners=True)


def warp(source: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Plain bilinear warp: ``out[y, x] = source[y + dy, x + dx]`` (border-clamped)."""
    ys, xs = _base_grid(flow)
    return _sample_bilinear(source, ys, xs)


def block_extractor(source: torch.Tensor, flow: torch.Tensor, kernel_size: int) -> torch.Tensor:
    """``k x k`` patches of ``source`` around the flow-shifted points, tiled: (B, C, k H, k W).

    Output pixel ``(y, x)`` belongs to flow location ``(y // k, x // k)`` and patch offset
    ``(y % k - k // 2, x % k - k // 2)``; it is ``source`` bilinearly sampled at
    ``(y // k + dy + oy, x // k + dx + ox)``. A zero flow extracts plain patches around
    each location (GFLA uses that for the target feature).
    """
    k = kernel_size
    ys, xs = _base_grid(flow)
    offsets = torch.arange(k, dtype=flow.dtype, device=flow.device) - k // 2
    tiled_y = ys.repeat_interleave(k, 1).repeat_interleave(k, 2) + offsets.repeat(ys.shape[1]).view(1, -1, 1)
    tiled_x = xs.repeat_interleave(k, 1).repeat_interleave(k, 2) + offsets.repeat(xs.shape[2]).view(1, 1, -1)
    return _sample_bilinear(source, tiled_y, tiled_x)


class BlockExtractor(nn.Module):
    def __init__(self, kernel_size: int = 3):
        super().__init__()
        self.kernel_size = kernel_size

    def forward(self, source: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
        return block_extractor(source, flow, self.kernel_size)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}"


def local_attn_reshape(weights: torch.Tensor, kernel_size: int) -> torch.Tensor:
    """(B, k*k, H, W) -> (B, 1, k H, k W): channel ``(y % k) * k + x % k`` of location ``(y // k, x // k)``.

    This is exactly a pixel shuffle with one output channel.
    """
    if weights.shape[1] != kernel_size**2:
        raise ValueError(f"expected {kernel_size ** 2} channels for kernel {kernel_size}, got {weights.shape[1]}")
    return F.pixel_shuffle(weights, kernel_size)


class LocalAttnReshape(nn.Module):
    def forward(self, weights: torch.Tensor, kernel_size: int = 3) -> torch.Tensor:
        return local_attn_reshape(weights, kernel_size)


# --------------------------------------------------------------------------------------
# Losses on flow fields


def sampling_correctness(source_features: torch.Tensor, target_features: torch.Tensor, flow: torch.Tensor,
                         kernel_size: int = 4, sigma: float = 2.0, eps: float = EPS) -> torch.Tensor:
    """GFLA's sampling-correctness loss at one feature level (``PerceptualCorrectness``).

    For each target location: the cosine similarity between the target feature and the
    source feature resampled by the flow (:func:`resample2d`, kernel 4, sigma 2), divided
    by the best cosine similarity any source location reaches; the loss is
    ``mean(exp(-ratio)) - exp(-1)``: 0 when every location samples its best match,
    ``1 - exp(-1)`` where the target feature is zero.
    """
    b, c, h, w = target_features.shape
    if source_features.shape != target_features.shape:
        raise ValueError(f"source and target features differ in shape: {tuple(source_features.shape)} vs {(b, c, h, w)}")
    if flow.shape[-2:] != (h, w):
        raise ValueError(f"flow of size {tuple(flow.shape[-2:])} does not match features of size {(h, w)}")
    target = target_features.reshape(b, c, h * w)
    source = source_features.reshape(b, c, h * w)
    target_unit = target / (target.norm(dim=1, keepdim=True) + eps)
    source_unit = source / (source.norm(dim=1, keepdim=True) + eps)
    best = torch.bmm(source_unit.transpose(1, 2), target_unit).amax(dim=1)  # (B, N): over source locations
    sampled = resample2d(source_features, flow, kernel_size, sigma).reshape(b, c, h * w)
    ratio = F.cosine_similarity(sampled, target, dim=1, eps=eps) / (best + eps)
    return torch.exp(-ratio).mean() - math.exp(-1)


def affine_residual_matrix(kernel_size: int) -> np.ndarray:
    """``K = (A (A^T A)^-1 A^T - I)^T (same)`` for ``A = [row, col, 1]`` over a ``k x k`` patch.

    ``g^T K g`` is the squared residual of the least-squares affine fit to the patch
    values ``g`` (flattened row-major).
    """
    k = kernel_size
    rows, cols = np.divmod(np.arange(k * k), k)
    a = np.stack([rows, cols, np.ones(k * k)], axis=1).astype(np.float64)
    residual = a @ np.linalg.inv(a.T @ a) @ a.T - np.eye(k * k)
    return residual.T @ residual


def affine_regularization(flow: torch.Tensor, kernel_size: int) -> torch.Tensor:
    """GFLA's ``AffineRegularizationLoss``: how far the flow is from locally affine.

    For each horizontal and vertical component, every ``k x k`` window of the sampling
    grid (the flow plus pixel coordinates; the coordinates are affine, so only the flow
    matters) is fitted by an affine function of (row, col); the loss sums the two
    components' mean squared fit residuals (sum over the window, mean over windows and
    batch), as ``mean(avg_pool(grid * K grid)) * k^2`` in the original.
    """
    k = kernel_size
    residual = torch.as_tensor(affine_residual_matrix(k), dtype=flow.dtype, device=flow.device)
    b = flow.shape[0]
    patches = F.unfold(flow.reshape(b * 2, 1, *flow.shape[-2:]), k)  # (2B, k*k, windows)
    quadratic = (patches * (residual @ patches)).sum(1)  # g^T K g per window
    return quadratic.view(b, 2, -1).mean(dim=(0, 2)).sum()
