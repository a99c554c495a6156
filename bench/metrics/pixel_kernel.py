"""SSIM in float64, compiled: one pass per pair over the cropped output, pairs in parallel.

The authors' ``compare_ssim`` call (Gaussian-weighted statistics, scipy's
``reflect`` border, the 5 px crop), arranged so that a core does the ~1.5 M
multiply-adds of a Market pair at SIMD speed instead of spending most of its
time on layout copies and elementwise passes over batched tensors (what the
earlier banded-matmul float64 path in torch did, 4-5x slower):

- per pair, the four maps s = x + y - 255, d = x - y, s², d² of each channel are
  written once, interleaved per column (``4 * c + q``), into a dense buffer that
  covers only the window of outputs reaching the pair's support (the mask's
  bounding box, or the image between DeepFashion's padded columns), reflect-
  extended by 1 px for the 13-tap kernel. Outside it both images are one
  constant, so d = 0, every variance is 0 and SSIM is exactly 1;
- the filter length is a compile-time constant (``numba.literally``), so the tap loops
  unroll and the loops over a row's columns vectorise with the sums in registers;
  each output row is filtered by rows, then by columns (taps 4 apart), and its SSIM
  summed at once: no map of the whole image is stored;
- ``numba.prange`` spreads the pairs over the threads of the caller's setting.

The mask (black background) and the padding are applied while the buffer is
filled, so the caller never copies the images.
"""
from __future__ import annotations

import threading

import numba
import numpy as np

# Numba's own thread pool, not OpenMP or TBB: nothing spin-waits between calls (the box is
# shared). It must not be entered from two threads at once, hence the lock in run_ssim.
numba.config.THREADING_LAYER = "workqueue"
_POOL = threading.Lock()

# Reassociation and contraction let the filter loops vectorise; no "fast" flags that
# assume finite values, since a constant generated image gives 0/0 (handled by the caller).
_FAST = {"reassoc", "contract", "arcp", "nsz"}


@numba.njit(cache=True, fastmath=_FAST)
def _fill(maps, image, target, mask, use_mask, pad, pad_value, extra, r0, c0):
    """The maps of one pair as scored (masked black, padded with ``pad_value`` columns, reflect-extended
    by ``extra`` px beyond the crop), for the window of extended rows and columns that starts at
    (r0, c0) and has the size of ``maps``: ``maps[ch, r, 4 * c + q]`` is map q (s = x + y - 255,
    d = x - y, s², d²), so that the maps of a run of columns are one contiguous run of a row."""
    height, width, channels = image.shape
    full_w = width + 2 * pad
    for r in range(maps.shape[1]):
        i = r + r0 - extra
        i = -i - 1 if i < 0 else (2 * height - 1 - i if i >= height else i)
        for c in range(maps.shape[2] // 4):
            j = c + c0 - extra
            j = -j - 1 if j < 0 else (2 * full_w - 1 - j if j >= full_w else j)
            jj = j - pad
            padded = jj < 0 or jj >= width
            hidden = not padded and use_mask and not mask[i, jj]
            for ch in range(channels):
                if padded:
                    x = pad_value
                    y = pad_value
                elif hidden:
                    x = 0.0
                    y = 0.0
                else:
                    x = np.float64(image[i, jj, ch])
                    y = np.float64(target[i, jj, ch])
                s = x + y - 255.0
                d = x - y
                row = maps[ch, r]
                row[4 * c] = s
                row[4 * c + 1] = d
                row[4 * c + 2] = s * s
                row[4 * c + 3] = d * d


@numba.njit(cache=True)
def _bounding_box(mask):
    """(top, bottom, left, right) of the True pixels, bottom and right exclusive; empty: (0, 0, 0, 0)."""
    height, width = mask.shape
    top, bottom, left, right = height, 0, width, 0
    for i in range(height):
        for j in range(width):
            if mask[i, j]:
                top = min(top, i)
                bottom = max(bottom, i + 1)
                left = min(left, j)
                right = max(right, j + 1)
    if bottom == 0:
        return 0, 0, 0, 0
    return top, bottom, left, right


@numba.njit(cache=True, fastmath=_FAST)
def _channel_sum(maps, rowpass, line, taps, k, c1, c2):
    """Sum of one channel's SSIM over the outputs of its (rows, 4 * cols) window of maps
    (:func:`_fill`): per output row, the row filter, then the column filter (taps 4 apart).
    ``k`` (the number of taps) is a compile-time literal, so the tap loops unroll and the loops
    over columns vectorise (an index numba cannot prove non-negative would cost a check each)."""
    out_h = maps.shape[0] - (k - 1)
    width = maps.shape[1]
    span = width - 4 * (k - 1)
    total = 0.0
    for i in range(out_h):
        for e in range(width):
            acc = 0.0
            for t in range(k):
                acc += taps[t] * maps[i + t, e]
            rowpass[e] = acc
        for e in range(span):
            acc = 0.0
            for t in range(k):
                acc += taps[t] * rowpass[e + 4 * t]
            line[e] = acc
        for j in range(span // 4):
            ms = line[4 * j]
            md = line[4 * j + 1]
            us = ms + 255.0
            vs = line[4 * j + 2] - ms * ms
            vd = line[4 * j + 3] - md * md
            us2 = us * us
            ud2 = md * md
            # SSIM = (2 ux uy + C1)(2 vxy + C2) / ((ux² + uy² + C1)(vx + vy + C2)), all terms doubled.
            total += ((us2 - ud2 + 2.0 * c1) * (vs - vd + 2.0 * c2)) / ((us2 + ud2 + 2.0 * c1) * (vs + vd + 2.0 * c2))
    return total


@numba.njit(cache=True, parallel=True, fastmath=_FAST)
def _ssim_pairs(generated, targets, masks, use_mask, pad, pad_value, taps, k, crop, data_range, out):
    """``out[p]`` = SSIM of pair p: uint8 (N, H, W, C) images, (N, H, W) bool masks, ``k`` float64 taps.

    Only the outputs whose window reaches the pair's support (the mask's bounding box, or the
    image between the padded columns) are computed: elsewhere both images are one constant
    (black, or white padding), so d = 0, every variance 0 and SSIM exactly 1.
    """
    # k as a literal type: one compiled specialisation per filter length, kept in numba's on-disk
    # cache (a kernel built in a closure per k, as before, was compiled anew by every process: 2 s)
    numba.literally(k)
    n, height, width, channels = generated.shape
    radius = k // 2
    extra = radius - crop  # reflection needed beyond the crop
    full_w = width + 2 * pad
    out_h, out_w = height - 2 * crop, full_w - 2 * crop
    rows, cols = out_h + 2 * radius, out_w + 2 * radius
    for p in numba.prange(n):
        if data_range[p] == 0.0:
            # A constant generated image: C1 = C2 = 0, and a window black in both images (a black image,
            # or a masked one, over a black target) divides 0 by 0: ZeroDivisionError in numba's Python error
            # model, which inside the parallel loop ended that thread's share of the pairs unseen and left
            # the rest of its chunk unwritten (np.empty garbage). Undefined (nan), as run_ssim records it.
            out[p] = np.nan
            continue
        top, bottom, left, right = 0, height, 0, width  # support in image coordinates
        if use_mask:
            top, bottom, left, right = _bounding_box(masks[p])
        if bottom <= top:  # empty mask: every window is black on both sides
            out[p] = 1.0
            continue
        # ... in extended coordinates; a support that touches a border also fills its reflection
        r0 = 0 if top == 0 else top + extra
        r1 = rows if bottom == height else bottom + extra
        c0 = 0 if (pad == 0 and left == 0) else left + pad + extra
        c1 = cols if (pad == 0 and right == width) else right + pad + extra
        i0, i1 = max(0, r0 - (k - 1)), min(out_h, r1)
        j0, j1 = max(0, c0 - (k - 1)), min(out_w, c1)
        maps = np.empty((channels, i1 - i0 + k - 1, 4 * (j1 - j0 + k - 1)))
        rowpass = np.empty(maps.shape[2])
        line = np.empty(maps.shape[2])
        k1 = 0.01 * data_range[p]
        k2 = 0.03 * data_range[p]
        _fill(maps, generated[p], targets[p], masks[p], use_mask, pad, pad_value, extra, i0, j0)
        total = 0.0
        for ch in range(channels):
            total += _channel_sum(maps[ch], rowpass, line, taps, k, k1 * k1, k2 * k2)
        ones = out_h * out_w - (i1 - i0) * (j1 - j0)
        out[p] = (total / channels + ones) / (out_h * out_w)


@numba.njit(cache=True, parallel=True)
def masked_ranges(generated, masks, use_mask, pad, pad_value, out):
    """The authors' ``data_range`` (max - min) of every generated image as scored: masked, padded."""
    n, height, width, channels = generated.shape
    for p in numba.prange(n):
        low, high = 255, 0
        if pad > 0:
            low, high = pad_value, pad_value
        for i in range(height):
            for j in range(width):
                for c in range(channels):
                    v = generated[p, i, j, c]
                    if use_mask and not masks[p, i, j]:
                        v = 0
                    low = min(low, v)
                    high = max(high, v)
        out[p] = np.float64(high) - np.float64(low)


def run_ssim(generated: np.ndarray, targets: np.ndarray, masks: np.ndarray | None, pad: int, taps: np.ndarray,
             crop: int, threads: int) -> np.ndarray:
    """(N,) float64 SSIM (nan where the generated image is constant) on ``threads`` threads."""
    use_mask = masks is not None
    masks = masks if use_mask else np.ones((len(generated), 1, 1), dtype=bool)
    pad_value = 0 if use_mask else 255
    ranges = np.empty(len(generated))
    out = np.empty(len(generated))
    with _POOL:
        previous = numba.get_num_threads()
        numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))
        try:
            masked_ranges(generated, masks, use_mask, pad, pad_value, ranges)
            _ssim_pairs(generated, targets, masks, use_mask, pad, float(pad_value), taps, len(taps),
                        crop, ranges, out)
        finally:
            numba.set_num_threads(previous)
    out[ranges == 0] = np.nan  # C1 = C2 = 0: 0/0 wherever a target window is flat (EXCLUSION_RULE)
    return out


@numba.njit(cache=True, parallel=True)
def _squared_errors(generated, targets, masks, use_mask, out):
    n, height, width, channels = generated.shape
    for p in numba.prange(n):
        total = 0  # integer sums are exact: at most 255² per value
        for i in range(height):
            for j in range(width):
                if use_mask and not masks[p, i, j]:
                    continue
                for c in range(channels):
                    d = np.int64(generated[p, i, j, c]) - np.int64(targets[p, i, j, c])
                    total += d * d
        out[p] = total / (height * width * channels)


def mean_squared_errors(generated: np.ndarray, targets: np.ndarray, masks: np.ndarray | None, threads: int) -> np.ndarray:
    """(N,) float64 MSE over every pixel and channel of the frame; masked-out pixels count as 0 error
    (both images black there), exact: the squared differences are summed as integers."""
    use_mask = masks is not None
    masks = masks if use_mask else np.ones((len(generated), 1, 1), dtype=bool)
    out = np.empty(len(generated))
    with _POOL:
        previous = numba.get_num_threads()
        numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))
        try:
            _squared_errors(generated, targets, masks, use_mask, out)
        finally:
            numba.set_num_threads(previous)
    return out
