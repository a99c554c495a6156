"""The metric registry: importing this package registers every metric.

``create_metric(name)`` / ``list_metrics()`` mirror the model factory.
"""
from __future__ import annotations

from bench.registry import METRICS
from bench.metrics import pckh  # noqa: F401  (registers pckh)
from bench.metrics import inception, lpips  # noqa: F401  (registers is, mask-is, fid, lpips, mask-lpips)
from bench.metrics import psnr, ssim  # noqa: F401  (registers ssim, mask-ssim, psnr, mask-psnr, psnr-uint8-wrap)


def list_metrics(pattern: str = "*") -> list[str]:
    return METRICS.names(pattern)


def get_metric(name: str):
    return METRICS.get(name)
