"""The PG2 body mask of mask-SSIM / mask-IS / mask-LPIPS, pixel for pixel.

Original: ``produce_ma_mask(kp_array, img_size, point_radius=4)`` in pose-gan /
PATN ``tool/pose_utils.py`` (protocol.md section 4). For every mask limb with
both ends present it fills the rectangle ``f + n, f - n, t - n, t + n`` (n the
unit normal of ``f - t`` times 4) with ``skimage.draw.polygon``; every present
joint gets ``skimage.draw.circle(y, x, 4)``; then dilation and erosion with a
5x5 square (a closing; borders reflect, so outside pixels never count).

The published numbers come from scikit-image <= 0.17 (the scripts call
``compare_ssim``, removed in 0.18), whose ``polygon`` tests each pixel centre
(x, y) with a half-open even-odd rule: edge (i, j = i - 1) is crossed when ``y``
lies in ``[y_i, y_j)`` or ``[y_j, y_i)`` and ``x < (x_j - x_i) * (y - y_i) /
(y_j - y_i) + x_i``. scikit-image 0.18 (PR #5029) switched to a rule that also
fills boundary pixels; on Market that changes about half of the masks by a few
pixels, so a literal re-run on today's scikit-image is *not* the protocol.

We rasterise the same shapes without per-shape Python calls. For a fixed row
the bound above does not depend on x, so every edge gives one threshold ``k``
(``x < bound`` <=> ``x < ceil(bound)`` for integer x) and the inside pixels are
those where an odd number of crossed edges has ``k <= x``: with the four
thresholds sorted (``W`` for an edge not crossed), ``[k0, k1)`` and ``[k2, k3)``.
The bound is evaluated with the same float64 operations, so ties round alike.
The disk of radius 4 around an integer centre is ``dy^2 + dx^2 < 16``: rows
-3..3 with half-widths 2,3,3,3,3,3,2. Spans are painted with a difference array.

A limb whose two ends coincide gets NaN vertices in the original (0/0); its
crossing tests are all false and nothing is drawn (today's ``polygon`` returns
nothing too); the joint disk still covers the point.
"""
from __future__ import annotations

import numpy as np

from bench.data.keypoints import MASK_LIMBS, MISSING, NUM_KEYPOINTS

POINT_RADIUS = 4
CLOSING_SIZE = 5
_ROWS_PER_CHUNK = 65536  # image rows per vectorised step: bounds temporaries to ~50 MB each

_LIMBS = np.asarray(MASK_LIMBS)
# Row offsets and half-widths of {dy^2 + dx^2 < 16}: skimage's circle of radius 4.
_DISK_DY = np.arange(-POINT_RADIUS + 1, POINT_RADIUS)
_DISK_HALF = np.floor(np.sqrt(POINT_RADIUS**2 - 1 - _DISK_DY**2)).astype(np.int64)


def pg2_mask(keypoints: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The PG2 mask (H, W) bool of one pose (18, 2) of integer (y, x)."""
    return pg2_masks(np.asarray(keypoints)[None], size)[0]


def pg2_masks(keypoints: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """PG2 masks (N, H, W) bool of poses (N, 18, 2) of integer (y, x), -1 missing."""
    kp = _as_int_keypoints(keypoints)
    out = np.empty((len(kp), *size), dtype=bool)
    step = max(1, _ROWS_PER_CHUNK // size[0])
    for start in range(0, len(kp), step):
        chunk = kp[start : start + step]
        out[start : start + len(chunk)] = _close(_paint(chunk, size))
    return out


def _as_int_keypoints(keypoints: np.ndarray) -> np.ndarray:
    kp = np.asarray(keypoints)
    if kp.ndim != 3 or kp.shape[1:] != (NUM_KEYPOINTS, 2):
        raise ValueError(f"keypoints must have shape (N, {NUM_KEYPOINTS}, 2), got {kp.shape}")
    if not np.issubdtype(kp.dtype, np.integer):
        if not np.all(np.isfinite(kp)) or np.any(kp != np.round(kp)):
            raise ValueError("PG2 masks are defined for integer pixel keypoints")
    return kp.astype(np.int64)


def _paint(kp: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Union of limb rectangles and joint disks, before the closing: (N, H, W) bool."""
    height, width = size
    starts, ends = [], []
    for rows, lo, hi in (*_limb_spans(kp, size), _disk_spans(kp, size)):
        keep = lo < hi
        flat_row = rows[keep] * (width + 1)
        starts.append(flat_row + lo[keep])
        ends.append(flat_row + hi[keep])
    # Coverage count via a difference array with one spare column per row; every
    # span opens and closes within its row, so one flat cumsum serves all rows.
    total = len(kp) * height * (width + 1)
    starts, ends = np.concatenate(starts), np.concatenate(ends)
    diff = np.bincount(starts, minlength=total) - np.bincount(ends, minlength=total)
    cover = np.cumsum(diff).reshape(len(kp), height, width + 1)
    return cover[..., :width] > 0


def _limb_rectangles(kp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Image index and float vertices (P, 4, 2) of every drawable limb rectangle."""
    image = np.repeat(np.arange(len(kp)), len(_LIMBS))
    limb = np.tile(np.arange(len(_LIMBS)), len(kp))
    f, t = kp[image, _LIMBS[limb, 0]], kp[image, _LIMBS[limb, 1]]  # (P, 2)
    d = f - t
    normal = np.stack([-d[:, 1], d[:, 0]], axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        normal = POINT_RADIUS * normal / np.sqrt((normal.astype(np.float64) ** 2).sum(-1, keepdims=True))
    verts = np.stack([f + normal, f - normal, t - normal, t + normal], axis=1)
    # Missing ends are skipped; coincident ends give NaN vertices, which draw nothing.
    keep = np.all(f != MISSING, axis=1) & np.all(t != MISSING, axis=1) & np.isfinite(verts).all(axis=(1, 2))
    return image[keep], verts[keep]


def _limb_spans(kp: np.ndarray, size: tuple[int, int]):
    """Row spans [lo, hi) of the limb rectangles: two (flat row, lo, hi) triples.

    Each rectangle is scanned over a window of rows starting at its top row;
    rectangles are grouped by window length (powers of two) to waste few rows.
    """
    height, width = size
    image, verts = _limb_rectangles(kp)
    top = np.clip(np.floor(verts[..., 0].min(axis=1)), 0, height).astype(np.int64)
    extent = np.ceil(verts[..., 0].max(axis=1)).astype(np.int64) - top + 1
    bucket = np.ceil(np.log2(np.clip(extent, 8, 2 * height))).astype(np.int64)
    first, second = ([], [], []), ([], [], [])
    for b in np.unique(bucket):
        sel = bucket == b
        rows = top[sel, None] + np.arange(2**b)  # (P, L)
        inside = rows < height
        flat = (image[sel, None] * height + rows)[inside]
        for out, (lo, hi) in zip((first, second), _rectangle_spans(verts[sel], rows, width)):
            out[0].append(flat)
            out[1].append(lo[inside])
            out[2].append(hi[inside])
    empty = np.zeros(0, dtype=np.int64)
    return tuple(tuple(np.concatenate(p) if p else empty for p in out) for out in (first, second))


def _rectangle_spans(verts: np.ndarray, rows: np.ndarray, width: int):
    """The two even-odd spans [k0, k1) and [k2, k3) of each rectangle on each row."""
    y = rows.astype(np.float64)
    # Edge (i, j = i - 1), as skimage's point_in_polygon walks it.
    k = [_edge_threshold(verts[:, i], verts[:, i - 1], y, width) for i in range(4)]
    for a, b in ((0, 1), (2, 3), (0, 2), (1, 3), (1, 2)):  # sorting network
        k[a], k[b] = np.minimum(k[a], k[b]), np.maximum(k[a], k[b])
    return (k[0], k[1]), (k[2], k[3])


def _edge_threshold(vi: np.ndarray, vj: np.ndarray, y: np.ndarray, width: int) -> np.ndarray:
    """Per row, the integer k with ``x < bound <=> x < k``; ``width`` where the edge is not crossed."""
    yi, xi = vi[:, 0:1], vi[:, 1:2]
    yj, xj = vj[:, 0:1], vj[:, 1:2]
    crossed = ((yi <= y) & (y < yj)) | ((yj <= y) & (y < yi))
    with np.errstate(invalid="ignore", divide="ignore"):
        bound = (xj - xi) * (y - yi) / (yj - yi) + xi
    k = np.clip(np.ceil(bound), 0, width)
    return np.where(crossed, k, width).astype(np.int64)


def _disk_spans(kp: np.ndarray, size: tuple[int, int]):
    """Row spans [lo, hi) of the radius-4 joint disks, clipped to the image."""
    height, width = size
    n = len(kp)
    present = np.all(kp != MISSING, axis=-1)[..., None]  # (N, 18, 1)
    row = kp[..., 0:1] + _DISK_DY  # (N, 18, 7)
    lo = np.clip(kp[..., 1:2] - _DISK_HALF, 0, width)
    hi = np.clip(kp[..., 1:2] + _DISK_HALF + 1, 0, width)
    valid = present & (row >= 0) & (row < height)
    hi = np.where(valid, hi, lo)
    flat = np.arange(n)[:, None, None] * height + np.clip(row, 0, height - 1)
    return flat, lo, hi


def _close(mask: np.ndarray) -> np.ndarray:
    """skimage ``erosion(dilation(m, square(5)), square(5))`` on each (H, W) image.

    skimage reflects at the border; with a centred 5x5 window the reflected
    pixels are already inside the window, so padding with the neutral value
    (False for max, True for min) gives the same result.
    """
    grown = _window_reduce(_window_reduce(mask, 1, np.logical_or, False), 2, np.logical_or, False)
    return _window_reduce(_window_reduce(grown, 1, np.logical_and, True), 2, np.logical_and, True)


def _window_reduce(mask: np.ndarray, axis: int, op, pad: bool) -> np.ndarray:
    """``op`` over a centred window of CLOSING_SIZE pixels along ``axis``."""
    widths = [(0, 0)] * mask.ndim
    widths[axis] = (CLOSING_SIZE // 2, CLOSING_SIZE // 2)
    padded = np.pad(mask, widths, constant_values=pad)
    length = mask.shape[axis]

    def shifted(offset: int) -> np.ndarray:
        index = [slice(None)] * mask.ndim
        index[axis] = slice(offset, offset + length)
        return padded[tuple(index)]

    out = shifted(0).copy()
    for offset in range(1, CLOSING_SIZE):
        op(out, shifted(offset), out=out)
    return out
