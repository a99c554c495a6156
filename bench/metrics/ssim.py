"""SSIM and mask-SSIM with the authors' call, batched in torch (protocol.md §3, §4).

Every published SSIM in this line (pose-gan test.py, PATN / PoNA
``tool/getMetrics_*.py``) is, per uint8 image pair,
``compare_ssim(reference, generated, gaussian_weights=True, sigma=1.5,
use_sample_covariance=False, multichannel=True,
data_range=generated.max() - generated.min())``: per-channel SSIM maps with
Gaussian-weighted statistics, a border of 5 px cropped, averaged over the map and
then over the three channels; the score is the mean over pairs.

Notes on the original code, what differs and the open gaps: docs/metrics/ssim.md.
"""
from __future__ import annotations

import math
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from bench.metrics.base import EvalInputs, MetricResult
from bench.metrics.geometry import PAD, geometry_of
from bench.metrics.protocol import Protocol
from bench.metrics.specs import METRIC_SPECS
from bench.registry import METRICS

SIGMA = 1.5
K1, K2 = 0.01, 0.03
WIN_SIZE = 11  # the crop: (WIN_SIZE - 1) // 2 px per border, in both conventions
TRUNCATE = {"legacy-13": 4.0, "skimage-11": 3.5}
FASHION_PAD = PAD  # px per side: 176 -> 256 (PATN addBounding; bench/metrics/geometry.py)
PRECISIONS = ("checked", "float64", "float32")
# The float32 path keeps pairs innermost, so it wants more of them per step (16 Market pairs).
FLOAT32_CHUNK_PIXELS = 16 * 128 * 64
# "checked": a pair is recomputed in float64 unless KAPPA * estimate + FLOOR <= TOLERANCE (see module doc).
TOLERANCE = 1e-5
KAPPA = 16.0
FLOOR = 5e-7
UNIT_ROUNDOFF32 = 2.0**-24


# ----------------------------------------------------------------------------- the filter


def gaussian_taps(truncate: float, sigma: float = SIGMA) -> np.ndarray:
    """scipy.ndimage's 1-D Gaussian: radius ``int(truncate * sigma + 0.5)``, normalised to sum 1."""
    radius = int(truncate * sigma + 0.5)
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    phi = np.exp(-0.5 / (sigma * sigma) * x * x)
    return phi / phi.sum()


def reflect_index(i: int, n: int) -> int:
    """scipy ``mode='reflect'``: the edge sample is repeated (``d c b a | a b c d``)."""
    period = 2 * n
    i %= period
    return i if i < n else period - 1 - i


def filter_matrix(n: int, taps: np.ndarray, crop: int) -> np.ndarray:
    """(n - 2 crop, n) matrix G with ``G @ signal == gaussian_filter(signal)[crop:n - crop]``."""
    radius = len(taps) // 2
    matrix = np.zeros((n - 2 * crop, n))
    for out in range(crop, n - crop):
        for k, weight in enumerate(taps, start=-radius):
            matrix[out - crop, reflect_index(out + k, n)] += weight
    return matrix


def check_pairs(generated: np.ndarray, targets: np.ndarray, masks: np.ndarray | None = None) -> None:
    if generated.shape != targets.shape or generated.ndim != 4 or generated.dtype != np.uint8 or targets.dtype != np.uint8:
        raise ValueError(f"expected two uint8 (N, H, W, 3) arrays of one shape, got {generated.shape} {generated.dtype} "
                         f"and {targets.shape} {targets.dtype}")
    if masks is not None and masks.shape != generated.shape[:3]:
        raise ValueError(f"masks of shape {masks.shape} do not match images of shape {generated.shape}")


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def map_chunks(
    fn: Callable[[slice], torch.Tensor], n: int, chunk: int, threads: int | None = None, desc: str = "", progress: bool = False
) -> np.ndarray:
    """``fn`` over slices of ``chunk`` rows of ``range(n)``, concatenated as float64 numpy.

    Each worker (the caller itself when ``threads`` is 1) runs whole chunks with
    torch's intra-op parallelism set to 1 for the duration (restored after): the
    chunks are small, and OpenMP fork/join per operation costs more than it
    gains (and collapses when the cores are shared).
    """
    rows = [slice(start, min(start + chunk, n)) for start in range(0, n, chunk)]
    threads = min(threads or torch.get_num_threads(), len(rows))
    bar = tqdm(total=len(rows), desc=desc, unit="chunk", disable=not progress, file=sys.stderr)

    def run(r: slice) -> torch.Tensor:
        with torch.no_grad():
            out = fn(r)
        bar.update()
        return out

    with bar, torch_threads(1):
        if threads <= 1:
            parts = [run(r) for r in rows]
        else:
            with ThreadPoolExecutor(threads) as pool:
                parts = list(pool.map(run, rows))
    return torch.cat(parts).numpy() if parts else np.zeros(0)


# ----------------------------------------------------------------------------- float32, pairs innermost


def planes(images: np.ndarray, rows: slice, masks: np.ndarray | None, pad: int, reflect: int) -> np.ndarray:
    """uint8 (H', W', C, P) of ``images[rows]``, pairs innermost: times the masks (black background)
    if any, ``pad`` columns per side (white, black when masked: they lie outside the mask), then
    ``reflect`` px per border in scipy's ``reflect`` mode (``d c b a | a b c d``)."""
    block = images[rows].transpose(1, 2, 3, 0)
    h, w, c, p = block.shape
    out = np.empty((h + 2 * reflect, w + 2 * (pad + reflect), c, p), np.uint8)
    body = out[reflect : reflect + h, reflect + pad : reflect + pad + w]
    if masks is None:
        body[...] = block
    else:
        np.multiply(block, masks[rows].transpose(1, 2, 0)[:, :, None], out=body)
    left, right = slice(reflect, reflect + pad), slice(reflect + pad + w, reflect + 2 * pad + w)
    out[reflect : reflect + h, left] = out[reflect : reflect + h, right] = 0 if masks is not None else 255
    for k in range(reflect):
        out[reflect - 1 - k], out[reflect + h + k] = out[reflect + k], out[reflect + h - 1 - k]
        out[:, reflect - 1 - k], out[:, out.shape[1] - reflect + k] = out[:, reflect + k], out[:, out.shape[1] - reflect - 1 - k]
    return out


def plane_range(planes: np.ndarray) -> torch.Tensor:
    """The authors' ``data_range`` (max - min) of each image of (H, W, C, P) planes, (P,) float64."""
    flat = planes.reshape(-1, planes.shape[-1])
    return torch.from_numpy(flat.max(axis=0).astype(np.float64) - flat.min(axis=0))


_CONV_TAPS: dict[tuple[str, int], tuple[torch.Tensor, torch.Tensor]] = {}


def conv_taps(kernel: str, maps: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Depthwise float32 weights, across (maps, 1, 1, K) and down (maps, 1, K, 1)."""
    if (kernel, maps) not in _CONV_TAPS:
        taps = torch.tensor(gaussian_taps(TRUNCATE[kernel]), dtype=torch.float32)
        k = len(taps)
        _CONV_TAPS[kernel, maps] = (taps.view(1, 1, 1, k).expand(maps, 1, 1, k).contiguous(),
                                    taps.view(1, 1, k, 1).expand(maps, 1, k, 1).contiguous())
    return _CONV_TAPS[kernel, maps]


def image_centres(images: torch.Tensor) -> torch.Tensor:
    """(C, P) integer means of uint8 (H, W, C, P) images (every 4th row and column is enough)."""
    sample = images[::4, ::4]
    count = sample.shape[0] * sample.shape[1]
    return sample.reshape(count, -1).sum(0, dtype=torch.int32).float().div_(count).round_().view(images.shape[2:])


_PLUS_MINUS = torch.tensor([1.0, -1.0]).view(2, 1, 1)


def ssim_float32(kernel: str, x: torch.Tensor, y: torch.Tensor, data_range: torch.Tensor, estimate: bool = True
                 ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(P,) float64 SSIM of uint8 planes (H, W, C, P) (see :func:`planes`) and, if asked, the
    first-order rounding estimate of each score (module doc): filtered in float32 by depthwise
    convolutions with the pairs and maps innermost (channels-last), the layout oneDNN vectorises.
    """
    height, width, channels, pairs = x.shape
    centres = torch.stack([image_centres(x) + image_centres(y), image_centres(x) - image_centres(y)])  # of s, d
    maps = torch.empty(height, width, 4, channels, pairs)  # s, d, s², d² (centred)
    sd = maps[:, :, :2]
    torch.sub(x.float().unsqueeze(2), centres, out=sd)
    sd.addcmul_(y.float().unsqueeze(2), _PLUS_MINUS)
    torch.mul(sd, sd, out=maps[:, :, 2:])
    m = 4 * channels * pairs
    across, down = conv_taps(kernel, m)
    filtered = F.conv2d(F.conv2d(maps.view(1, height, width, m).permute(0, 3, 1, 2), across, groups=m), down, groups=m)
    out_h, out_w = filtered.shape[2:]
    stats = filtered.permute(0, 2, 3, 1).view(out_h, out_w, 2, 2, channels, pairs)  # (mean | moment, s | d, C, P)
    mean, moment = stats[:, :, 0], stats[:, :, 1]
    c1, c2 = (2 * (K1 * data_range) ** 2).float(), (2 * (K2 * data_range) ** 2).float()
    raw = moment.clone() if estimate else None
    moment.addcmul_(mean, mean, value=-1)[:, :, 0].add_(c2)  # vs + C2, vd
    mean.add_(centres).square_()[:, :, 0].add_(c1)  # us² + C1, ud²
    numerator = stats[:, :, :, 0] - stats[:, :, :, 1]  # luminance, contrast-structure
    denominator = stats[:, :, :, 0].add_(stats[:, :, :, 1])
    error = None
    if estimate:  # u (Q_s 2 vd + Q_d 2 (vs + C2)) / (vs + vd + C2)², averaged like the score
        bound = (raw[:, :, 0] * moment[:, :, 1]).addcmul_(raw[:, :, 1], moment[:, :, 0]).div_(denominator[:, :, 1].square())
        error = bound.reshape(-1, channels, pairs).double().sum(0).mean(0) * (2 * UNIT_ROUNDOFF32 / (out_h * out_w))
    ssim_map = numerator[:, :, 0].mul_(numerator[:, :, 1]).div_(denominator[:, :, 0].mul_(denominator[:, :, 1]))
    scores = ssim_map.view(-1, channels, pairs).double().sum(0).mean(0) / (out_h * out_w)
    return torch.where(data_range > 0, scores, torch.full_like(scores, math.nan)), error


# ----------------------------------------------------------------------------- all pairs


def ssim_scores(
    generated: np.ndarray,
    targets: np.ndarray,
    kernel: str = "legacy-13",
    *,
    masks: np.ndarray | None = None,
    pad: int = 0,
    precision: str = "float64",
    tolerance: float = TOLERANCE,
    chunk: int | None = None,
    threads: int | None = None,
    progress: bool = False,
    details: dict | None = None,
) -> np.ndarray:
    """(N,) float64 SSIM per pair with the authors' arguments (``data_range`` from each generated image).

    ``masks`` (N, H, W) bool multiply both images first (mask-SSIM); ``pad``
    adds that many columns per side (white, or black when masked).
    ``precision`` (module doc): "float64" (default: the compiled kernel of
    :mod:`bench.metrics.pixel_kernel`, scikit-image to ~1e-14 and the fastest),
    "checked" (float32, and float64 for every pair whose rounding estimate does
    not fit ``tolerance``) or "float32" (unchecked: up to ~1e-4 off where
    images differ by a constant over flat regions). ``details``, if given, gets
    ``float64_pairs``: how many pairs "checked" recomputed.
    ``chunk``: pairs per batched step; ``threads``: workers (default ``torch.get_num_threads()``).
    """
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; valid: {', '.join(PRECISIONS)}")
    check_pairs(generated, targets, masks)
    if kernel not in TRUNCATE:
        raise ValueError(f"unknown SSIM kernel {kernel!r}; valid: {', '.join(TRUNCATE)}")
    size = (generated.shape[1], generated.shape[2] + 2 * pad)
    if min(size) < WIN_SIZE:
        raise ValueError(f"images of size {size} are smaller than the SSIM window {WIN_SIZE}")
    reflect = len(gaussian_taps(TRUNCATE[kernel])) // 2 - (WIN_SIZE - 1) // 2  # filter radius beyond the crop

    def exact(rows: slice | np.ndarray) -> torch.Tensor:
        from bench.metrics.pixel_kernel import run_ssim

        taps = gaussian_taps(TRUNCATE[kernel])
        return torch.from_numpy(run_ssim(generated[rows], targets[rows], None if masks is None else masks[rows],
                                         pad, taps, (WIN_SIZE - 1) // 2, 1))

    def fast(rows: slice) -> torch.Tensor:
        x, y = planes(generated, rows, masks, pad, reflect), planes(targets, rows, masks, pad, reflect)
        data_range = plane_range(x)
        x, y = torch.from_numpy(x), torch.from_numpy(y)
        scores, error = ssim_float32(kernel, x, y, data_range, estimate=precision == "checked")
        redo = torch.zeros(len(scores), dtype=torch.bool)
        if error is not None:
            redo = ~(KAPPA * error + FLOOR <= tolerance) & (data_range > 0)  # nan estimates are redone too
            if redo.any():
                scores[redo] = exact(np.arange(rows.start, rows.stop)[redo.numpy()])
        return torch.stack([scores, redo.to(torch.float64)], dim=1)

    if precision == "float64":
        if details is not None:
            details["float64_pairs"] = len(generated)
        return compiled_ssim(generated, targets, kernel, masks, pad, threads, progress)
    chunk = chunk or max(4, FLOAT32_CHUNK_PIXELS // (size[0] * size[1]))  # DeepFashion: 4 (2 measured slower)
    out = map_chunks(fast, len(generated), chunk, threads, desc="ssim", progress=progress).reshape(-1, 2)
    if details is not None:
        details["float64_pairs"] = int(out[:, 1].sum())
    return out[:, 0].copy()


def compiled_ssim(generated: np.ndarray, targets: np.ndarray, kernel: str, masks: np.ndarray | None, pad: int,
                  threads: int | None, progress: bool, chunk: int = 1024) -> np.ndarray:
    """(N,) float64 SSIM by the compiled kernel (:mod:`bench.metrics.pixel_kernel`), in chunks for the progress bar."""
    from bench.metrics.pixel_kernel import run_ssim

    taps, crop = gaussian_taps(TRUNCATE[kernel]), (WIN_SIZE - 1) // 2
    threads = threads or torch.get_num_threads()
    out = np.empty(len(generated))
    with tqdm(total=len(generated), desc="ssim", unit="pair", disable=not progress, file=sys.stderr) as bar:
        for start in range(0, len(generated), chunk):
            rows = slice(start, start + chunk)
            out[rows] = run_ssim(generated[rows], targets[rows], None if masks is None else masks[rows], pad, taps, crop, threads)
            bar.update(len(out[rows]))
    return out


# ----------------------------------------------------------------------------- the metrics


def fashion_pad(inputs: EvalInputs, protocol: Protocol, metric: str = "ssim") -> int:
    """Columns of padding per side before ``metric`` on this dataset and protocol (0 = none; bench/metrics/geometry.py)."""
    return geometry_of(inputs.layout.kind.name, protocol.fashion_geometry).pad(metric)


def target_masks(inputs: EvalInputs) -> np.ndarray:
    """(N, H, W) bool PG2 masks of the target keypoints, in the dataset frame (shared: EvalInputs.target_masks)."""
    return inputs.target_masks()


def _progress(inputs: EvalInputs) -> bool:
    return inputs.show_progress()


def _result(scores: np.ndarray, **details) -> MetricResult:
    details["constant_generated"] = int(np.isnan(scores).sum())  # SSIM 0/0: left out of the mean (EXCLUSION_RULE)
    return MetricResult.from_scores(scores, undefined="every generated image is constant (SSIM undefined)", **details)


@METRICS.register("ssim", METRIC_SPECS["ssim"])
def ssim(inputs: EvalInputs, protocol: Protocol) -> MetricResult:
    pad, counts = fashion_pad(inputs, protocol), {}
    scores = ssim_scores(inputs.generated, inputs.targets, protocol.ssim_kernel, pad=pad, progress=_progress(inputs), details=counts)
    return _result(scores, kernel=protocol.ssim_kernel, pad=pad, **counts)


@METRICS.register("mask-ssim", METRIC_SPECS["mask-ssim"])
def mask_ssim(inputs: EvalInputs, protocol: Protocol) -> MetricResult:
    pad, counts = fashion_pad(inputs, protocol, "mask-ssim"), {}
    scores = ssim_scores(inputs.generated, inputs.targets, protocol.ssim_kernel, masks=target_masks(inputs), pad=pad,
                         progress=_progress(inputs), details=counts)
    return _result(scores, kernel=protocol.ssim_kernel, pad=pad, masked=True, **counts)
