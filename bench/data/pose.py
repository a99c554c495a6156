"""Gaussian keypoint heatmaps: the pose input of PATN-style generators.

Channel ``i`` holds ``exp(-((y - y_i)^2 + (x - x_i)^2) / (2 sigma^2))`` over the
pixel grid, sigma = 6 (PATN tool/generate_pose_map_market.py via pose-gan
``cords_to_map``); a missing keypoint (-1) gives an all-zero channel.
"""
from __future__ import annotations

import numpy as np
import torch

from bench.data.keypoints import MISSING, NUM_KEYPOINTS


def heatmaps(
    keypoints: torch.Tensor | np.ndarray,
    size: tuple[int, int],
    sigma: float = 6.0,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Heatmaps ``(..., 18, H, W)`` of keypoints ``(..., 18, 2)`` given as (y, x).

    The Gaussian is separable, so each channel is an outer product of a row and
    a column profile: O(H + W) exponentials per keypoint instead of O(H * W).
    """
    kp = keypoints if torch.is_tensor(keypoints) else torch.from_numpy(np.asarray(keypoints))
    if kp.shape[-2:] != (NUM_KEYPOINTS, 2):
        raise ValueError(f"keypoints must have shape (..., {NUM_KEYPOINTS}, 2), got {tuple(kp.shape)}")
    # Profiles in float64 keep the maps within float32 rounding of the reference.
    kp = kp.to(torch.float64)
    height, width = size
    present = ((kp[..., 0] != MISSING) & (kp[..., 1] != MISSING)).unsqueeze(-1)
    ys = torch.arange(height, dtype=torch.float64, device=kp.device)
    xs = torch.arange(width, dtype=torch.float64, device=kp.device)
    denom = 2.0 * sigma**2
    rows = torch.exp(-((ys - kp[..., 0:1]) ** 2) / denom) * present  # (..., 18, H)
    cols = torch.exp(-((xs - kp[..., 1:2]) ** 2) / denom)  # (..., 18, W)
    return rows.to(dtype).unsqueeze(-1) * cols.to(dtype).unsqueeze(-2)
