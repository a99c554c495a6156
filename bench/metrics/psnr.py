"""PSNR, mask-PSNR and the inflated uint8-wrap PSNR of the PoNA / PISE line (protocol.md §6).

- ``psnr``: per pair ``10 log10(255² / MSE)`` with the MSE over all pixels and
  channels in float (scikit-image ``peak_signal_noise_ratio(target, generated,
  data_range=255)``, PG2's / GFLA's ``compare_psnr``); the value is the mean over
  pairs. The ~14 dB regime on Market (Tang et al. AAAI 2021, Table 1).
- ``mask-psnr``: the same on both images multiplied by the PG2 mask of the
  target keypoints, background black, MSE over the *whole* frame (the mask-SSIM
  convention of PATN applied to PSNR). Tang et al. define no formula and ship no
  code; their Mask-PSNR (~20 dB) above PSNR (~14 dB) on Market is what this
  convention gives, since the black background adds zero error.
- ``psnr-uint8-wrap``: PISE ``util/psnr.py``: ``mse = ((orig - target) ** 2).mean()``
  on uint8 arrays, ``20 log10(255) - 10 log10(mse)``. numpy wraps the
  subtraction and the squaring modulo 256, so every pixel's "squared error" is
  at most 255 and the score is at least 24.07 dB; two independent random images
  score ~27.9 dB. It reproduces the ~28 dB (Market) / ~31 dB (DeepFashion)
  values of the PoNA / PISE tables and is kept only to compare with them.

Identical images (MSE 0) score ``inf``, as in scikit-image (``10 log10(255² / 0)``)
and in PISE's script; the mean over pairs is then ``inf`` too, as theirs would
be, and ``details["identical"]`` counts such pairs.

PSNR is taken in the dataset frame; DeepFashion is *not* padded to 256 (the
white columns would add zero error and inflate it; PISE crops its 256-wide
images back to 176 before PSNR).
"""
from __future__ import annotations

import math

import numpy as np
import torch

from bench.metrics.base import EvalInputs, MetricResult
from bench.metrics.protocol import Protocol
from bench.metrics.ssim import check_pairs, map_chunks, target_masks
from bench.metrics.specs import METRIC_SPECS
from bench.registry import METRICS

PEAK = 255
DEFAULT_CHUNK = 256


def _psnr(mse: torch.Tensor) -> torch.Tensor:
    """scikit-image's ``10 * log10(data_range**2 / mse)``: mse 0 gives inf."""
    with np.errstate(divide="ignore"):
        return torch.from_numpy(10 * np.log10(PEAK**2 / mse.numpy()))


def psnr_scores(generated: np.ndarray, targets: np.ndarray, masks: np.ndarray | None = None,
                threads: int | None = None) -> np.ndarray:
    """(N,) float64 PSNR per pair, peak 255; ``masks`` (N, H, W) bool blacken the background of both.

    The MSE comes from the compiled kernel (:func:`bench.metrics.pixel_kernel.mean_squared_errors`,
    integer sums: exact), about 0.01 ms per Market pair: no progress bar is needed.
    """
    from bench.metrics.pixel_kernel import mean_squared_errors

    check_pairs(generated, targets, masks)
    mse = mean_squared_errors(generated, targets, masks, threads or torch.get_num_threads())
    return _psnr(torch.from_numpy(mse)).numpy()


def wrapped_psnr_scores(generated: np.ndarray, targets: np.ndarray, chunk: int = DEFAULT_CHUNK, threads: int | None = None) -> np.ndarray:
    """(N,) float64 PSNR with PISE's uint8 arithmetic: difference and square both wrap modulo 256."""
    check_pairs(generated, targets)

    def score(rows: slice) -> torch.Tensor:
        orig, target = generated[rows], targets[rows]
        mse = ((orig - target) ** 2).mean(axis=(-3, -2, -1))  # numpy uint8: wraps twice, as in PISE
        with np.errstate(divide="ignore"):
            return torch.from_numpy(20 * math.log10(PEAK) - 10 * np.log10(mse))

    return map_chunks(score, len(generated), chunk, threads)


def _result(scores: np.ndarray, **details) -> MetricResult:
    return MetricResult.from_scores(scores, undefined="every generated image equals its target (PSNR +inf)",
                                    identical=int(np.isposinf(scores).sum()), **details)


@METRICS.register("psnr", METRIC_SPECS["psnr"])
def psnr(inputs: EvalInputs, protocol: Protocol) -> MetricResult:
    return _result(psnr_scores(inputs.generated, inputs.targets))


@METRICS.register("mask-psnr", METRIC_SPECS["mask-psnr"])
def mask_psnr(inputs: EvalInputs, protocol: Protocol) -> MetricResult:
    masks = target_masks(inputs)
    return _result(psnr_scores(inputs.generated, inputs.targets, masks), masked=True)


@METRICS.register("psnr-uint8-wrap", METRIC_SPECS["psnr-uint8-wrap"])
def psnr_uint8_wrap(inputs: EvalInputs, protocol: Protocol) -> MetricResult:
    """The PoNA / PISE PSNR: uint8 overflow makes it ~28 dB on Market whatever the generator (not a real PSNR)."""
    return _result(wrapped_psnr_scores(inputs.generated, inputs.targets), convention="uint8-wrap")
