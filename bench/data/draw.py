"""Skeletons and masks drawn onto images, for figures and contact sheets.

Colours are OpenPose's 18 joint colours (pose-gan / PATN ``pose_utils.COLORS``);
limb ``k`` of ``SKELETON`` takes colour ``k`` (mod 18) as in the OpenPose demo.
Limbs are anti-aliased lines (``skimage.draw.line_aa``), joints filled discs.
"""
from __future__ import annotations

import numpy as np
from skimage.draw import disk, line_aa

from bench.data.keypoints import MISSING, SKELETON

COLORS: tuple[tuple[int, int, int], ...] = (
    (255, 0, 0), (255, 85, 0), (255, 170, 0), (255, 255, 0), (170, 255, 0), (85, 255, 0),
    (0, 255, 0), (0, 255, 85), (0, 255, 170), (0, 255, 255), (0, 170, 255), (0, 85, 255),
    (0, 0, 255), (85, 0, 255), (170, 0, 255), (255, 0, 255), (255, 0, 170), (255, 0, 85),
)


def _present(point: np.ndarray) -> bool:
    return bool(point[0] != MISSING and point[1] != MISSING)


def _blend(out: np.ndarray, rr: np.ndarray, cc: np.ndarray, colour, alpha) -> None:
    inside = (rr >= 0) & (rr < out.shape[0]) & (cc >= 0) & (cc < out.shape[1])
    rr, cc = rr[inside], cc[inside]
    alpha = np.broadcast_to(np.asarray(alpha, dtype=np.float64), inside.shape)[inside][:, None]
    mixed = (1.0 - alpha) * out[rr, cc] + alpha * np.asarray(colour, dtype=np.float64)
    out[rr, cc] = np.clip(np.rint(mixed), 0, 255).astype(np.uint8)


def draw_skeleton(image: np.ndarray, keypoints: np.ndarray, radius: int = 2, limbs: bool = True) -> np.ndarray:
    """A copy of uint8 ``image`` (H, W, 3) with the 18-point skeleton (y, x) drawn on it."""
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected a uint8 (H, W, 3) image, got {image.dtype} {image.shape}")
    out = image.copy()
    kp = np.rint(np.asarray(keypoints, dtype=np.float64)).astype(np.int64)
    if limbs:
        for k, (a, b) in enumerate(SKELETON):
            if _present(kp[a]) and _present(kp[b]):
                rr, cc, val = line_aa(kp[a, 0], kp[a, 1], kp[b, 0], kp[b, 1])
                _blend(out, rr, cc, COLORS[k % len(COLORS)], val)
    for i, point in enumerate(kp):
        if _present(point):
            rr, cc = disk((point[0], point[1]), radius + 0.5, shape=out.shape[:2])
            _blend(out, rr, cc, COLORS[i], 1.0)
    return out


def pose_image(keypoints: np.ndarray, size: tuple[int, int], radius: int = 2) -> np.ndarray:
    """The skeleton on black, (H, W, 3) uint8: the "target pose" column of figures."""
    return draw_skeleton(np.zeros((*size, 3), dtype=np.uint8), keypoints, radius=radius)


def overlay_mask(image: np.ndarray, mask: np.ndarray, colour=(0, 255, 0), alpha: float = 0.45) -> np.ndarray:
    """A copy of ``image`` with ``colour`` blended in at ``alpha`` wherever ``mask`` is true."""
    if mask.shape != image.shape[:2]:
        raise ValueError(f"mask shape {mask.shape} does not match image shape {image.shape[:2]}")
    out = image.copy()
    rr, cc = np.nonzero(mask)
    _blend(out, rr, cc, colour, alpha)
    return out
