"""Backgrounds and the camera's finishing touches (blur, noise, JPEG).

Market-like: each camera watches its own street scene (wall with panels,
windows and signs above a paved ground) with its own colour cast; a
detection box is a random window of it plus passing clutter. Fashion-like: a
clean, light studio backdrop with a soft floor shadow.
"""
from __future__ import annotations

import io

import numpy as np
from PIL import Image
from scipy import ndimage


def smooth_noise(rng: np.random.Generator, shape: tuple[int, int], cell: int) -> np.ndarray:
    """Low-frequency noise in [-1, 1]: a coarse random grid bilinearly upsampled to ``shape``."""
    gh, gw = shape[0] // cell + 2, shape[1] // cell + 2
    grid = rng.uniform(-1, 1, (gh, gw))
    up = ndimage.zoom(grid, (shape[0] / gh * 1.0001, shape[1] / gw * 1.0001), order=1, mode="nearest")
    return up[: shape[0], : shape[1]]


def _fill_rect(img: np.ndarray, y0: float, y1: float, x0: float, x1: float, color) -> None:
    h, w = img.shape[:2]
    i0, i1 = int(np.clip(round(y0), 0, h)), int(np.clip(round(y1), 0, h))
    j0, j1 = int(np.clip(round(x0), 0, w)), int(np.clip(round(x1), 0, w))
    img[i0:i1, j0:j1] = color


def market_scene(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """One camera's view, ``width`` wide, as float RGB in [0, 1]."""
    img = np.empty((height, width, 3), dtype=np.float32)
    horizon = rng.uniform(0.3, 0.62) * height
    wall = rng.uniform(0.3, 0.75) * np.array([1.0, rng.uniform(0.85, 1.05), rng.uniform(0.75, 1.15)])
    img[:] = wall
    x = 0.0
    while x < width:  # facade panels
        step = rng.uniform(0.2, 0.8) * height
        shade = np.clip(wall * rng.uniform(0.7, 1.25) + rng.normal(0, 0.04, 3), 0, 1)
        _fill_rect(img, 0, horizon, x, x + step, shade)
        if rng.random() < 0.6:  # window or door
            top = rng.uniform(0.05, 0.5) * horizon
            glass = np.clip(rng.uniform(0.1, 0.45) * np.array([0.9, 1.0, 1.15]) + rng.normal(0, 0.03, 3), 0, 1)
            _fill_rect(img, top, rng.uniform(top + 8, horizon), x + step * 0.15, x + step * rng.uniform(0.5, 0.85), glass)
        if rng.random() < 0.25:  # sign
            sy = rng.uniform(0, horizon * 0.6)
            _fill_rect(img, sy, sy + rng.uniform(4, 10), x + rng.uniform(0, step / 2), x + step, 0.4 * wall + 0.6 * rng.uniform(0.2, 0.9, 3))
        x += step
    ground = rng.uniform(0.35, 0.65) * np.array([1.0, rng.uniform(0.92, 1.05), rng.uniform(0.85, 1.05)])
    rows = np.arange(height, dtype=np.float32)[:, None]
    depth = np.clip((rows - horizon) / max(height - horizon, 1.0), 0, 1)  # 0 at the horizon, 1 at the bottom
    below = (rows >= horizon)[..., None]
    lines = (np.sin(np.sqrt(depth + 0.05) * rng.uniform(25, 50)) > 0.92)[..., None] * -0.08
    img[:] = np.where(below, ground * (0.85 + 0.25 * depth[..., None]) + lines, img)
    img *= (1.0 + 0.12 * smooth_noise(rng, (height, width), 12))[..., None]
    img *= rng.uniform(0.9, 1.1, 3) * rng.uniform(0.75, 1.1)  # camera colour cast and exposure
    return np.clip(img, 0, 1)


def market_background(scene: np.ndarray, rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A detection box's background: a window of the camera's scene plus random clutter."""
    x0 = int(rng.integers(0, scene.shape[1] - width + 1))
    bg = scene[:, x0:x0 + width].copy()
    for _ in range(int(rng.integers(0, 3))):  # bikes, bins, cars: soft-edged blocks
        cy, cx = rng.uniform(0.3, 1.0) * height, rng.uniform(0, width)
        hy, hx = rng.uniform(4, 25), rng.uniform(3, 18)
        yy, xx = np.mgrid[0:height, 0:width]
        alpha = np.clip((1.0 - np.maximum(np.abs(yy - cy) / hy, np.abs(xx - cx) / hx)) * 4.0, 0, 1)[..., None]
        muted = 0.5 * bg.mean(axis=(0, 1)) + 0.5 * rng.uniform(0.05, 0.85, 3)
        bg = bg * (1 - alpha) + muted * alpha
    bg *= rng.uniform(0.92, 1.08)
    return np.clip(bg, 0, 1).astype(np.float32)


def fashion_background(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A light studio backdrop with a faint vertical gradient and tint."""
    base = rng.uniform(0.86, 0.97)
    tint = 1.0 + rng.normal(0, 0.015, 3)
    rows = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]
    bg = (base + (rows - 0.5) * rng.uniform(-0.06, 0.03)) * tint
    return np.clip(np.broadcast_to(bg, (height, width, 3)), 0, 1).astype(np.float32).copy()


def floor_shadow(bg: np.ndarray, y: float, x: float, rx: float, ry: float, strength: float) -> np.ndarray:
    """Darken an elliptic soft spot where the feet stand."""
    h, w = bg.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    d = ((yy - y) / max(ry, 1e-3)) ** 2 + ((xx - x) / max(rx, 1e-3)) ** 2
    return bg * (1.0 - strength * np.exp(-d))[..., None]


def finish(image: np.ndarray, rng: np.random.Generator, blur: float, noise: float) -> np.ndarray:
    """Camera blur and sensor noise; float RGB [0, 1] -> uint8."""
    if blur > 0:
        image = ndimage.gaussian_filter(image, sigma=(blur, blur, 0), mode="nearest")
    if noise > 0:
        image = image + rng.normal(0.0, noise, image.shape)
    return np.clip(np.rint(image * 255.0), 0, 255).astype(np.uint8)


def jpeg_bytes(image: np.ndarray, quality: int) -> bytes:
    """Encode with fixed settings (no timestamps or EXIF), so equal pixels give equal bytes."""
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="JPEG", quality=quality, subsampling=2, optimize=False)
    return buf.getvalue()
