"""What every metric receives and returns.

``bench evaluate`` loads the generated images and their ground truth once into an
:class:`EvalInputs` and calls each requested metric on it. A metric is a plain
function ``fn(inputs, protocol) -> MetricResult`` registered in ``METRICS`` with
its :class:`bench.cards.MetricSpec` (``bench/metrics/specs.py``).
Per-pair metrics return the score of every pair (kept for paired statistics);
set-level metrics (IS, FID, PCKh) return only the value.
A metric that cannot run (missing weights, no estimator) returns
``MetricResult.unavailable(reason)``; it never substitutes another network.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bench.data.layout import DatasetLayout
from bench.metrics.protocol import Protocol


@dataclass
class EvalInputs:
    # Images and keypoints in the protocol's scored size (bench/metrics/geometry.py): the dataset frame
    # (Market 128x64, DeepFashion 256x176 or pose-gan's 256x256), or GFLA's 256x256 resize.
    generated: np.ndarray  # (N, H, W, 3) uint8
    targets: np.ndarray  # (N, H, W, 3) uint8 ground-truth targets
    target_keypoints: np.ndarray  # (N, 18, 2) int (y, x), -1 missing
    pairs: list[tuple[str, str]]  # (from, to) names, same order
    layout: DatasetLayout  # where the dataset lives (train images for FID, annotations)
    device: str = "cpu"
    sources: np.ndarray | None = None  # (N, H, W, 3) uint8 source images, when a metric needs them
    weights_dir: str | None = None  # pretrained metric weights (else $BENCH_WEIGHTS_DIR / the torch hub cache)
    cache_dir: str | None = None  # cached reference statistics (FID)
    progress: bool | None = None  # progress bars on stderr; None: when stderr is a terminal
    pose_estimator: Any = None  # PCKh's estimator (bench.pose_estimator); None: PCKh unavailable
    pose_names: list[str] | None = None  # one key per generated image for the estimator (default from___to)
    _masks: np.ndarray | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.pairs)

    def show_progress(self) -> bool:
        return sys.stderr.isatty() if self.progress is None else self.progress

    def target_masks(self) -> np.ndarray:
        """(N, H, W) bool PG2 masks of the target keypoints in the dataset frame (protocol.md §4),
        built once per evaluation and shared by every masked metric."""
        if self._masks is None:
            from bench.data.masks import pg2_masks

            self._masks = pg2_masks(self.target_keypoints, tuple(self.targets.shape[1:3]))
        return self._masks


@dataclass
class MetricResult:
    value: float | None
    per_pair: np.ndarray | None = None  # (N,) float64 when the metric is per pair
    reason: str | None = None  # why value is None
    details: dict[str, Any] = field(default_factory=dict)  # std of IS, estimator used, ...

    @classmethod
    def unavailable(cls, reason: str, **details: Any) -> "MetricResult":
        return cls(value=None, reason=reason, details=details)

    @classmethod
    def from_scores(cls, scores: np.ndarray, undefined: str = "no pair has a finite score", **details: Any) -> "MetricResult":
        """The mean over the pairs with a finite score (:data:`EXCLUSION_RULE`); ``undefined`` says why none has one."""
        scores = np.asarray(scores, dtype=np.float64)
        finite = np.isfinite(scores)
        if not finite.any():
            return cls(value=None, per_pair=scores, reason=undefined, details=details)
        return cls(value=float(scores[finite].mean()), per_pair=scores, details=details)


# One convention for every per-pair metric, counted in the record (``bench.evaluate.exclusions``):
EXCLUSION_RULE = ("pairs whose score is undefined or infinite (SSIM of a constant generated image: 0/0; "
                  "PSNR of an image equal to its target: +inf) are left out of the mean and counted; "
                  "the authors' np.mean would give nan / inf for the whole set")
