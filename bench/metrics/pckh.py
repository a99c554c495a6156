"""PCKh: the share of target keypoints a pose estimator finds again in the generated image.

Follows PATN tool/calPCKH_market.py (= calPCKH_fashion.py, PoNA's copies; protocol.md
section 7) exactly:

* head size: the bounding box of the *target's* head keypoints (nose, neck, eyes, ears;
  ``keypoints.HEAD``) that are present; fewer than 2 present and the whole image is
  skipped. Width and height are used separately, each on its own axis;
* a keypoint is correct when ``|px - tx| < alpha * hx`` **and** ``|py - ty| < alpha * hy``
  (strict inequalities, alpha = 0.5); a keypoint missing in the prediction is wrong;
* the denominator counts the keypoints present in the target over the non-skipped
  images, and the result is pooled over the test set (total correct / total present),
  not a mean of per-image scores.

The predictions come from a pose estimator (``bench.pose_estimator``) run on the
generated images; which one is recorded with the result, since PCKh numbers from
different estimators are not comparable.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from bench.data.keypoints import HEAD, MISSING, NUM_KEYPOINTS
from bench.data.naming import pair_stem
from bench.metrics.base import EvalInputs, MetricResult
from bench.metrics.protocol import Protocol
from bench.metrics.specs import METRIC_SPECS
from bench.registry import METRICS


def head_boxes(target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per image, the (height, width) of the head keypoints' bounding box, and whether it is valid.

    ``target`` is (N, 18, 2) of (y, x). Returns ``sizes`` (N, 2) float of (hy, hx) and
    ``valid`` (N,) bool: at least two head keypoints present.
    """
    head = target[:, list(HEAD), :].astype(np.float64)
    present = head[..., 0] != MISSING
    big, small = np.where(present[..., None], head, -np.inf), np.where(present[..., None], head, np.inf)
    valid = present.sum(axis=1) >= 2
    sizes = np.where(valid[:, None], big.max(axis=1) - small.min(axis=1), 0.0)
    return sizes, valid


def correct_keypoints(pred: np.ndarray, target: np.ndarray, sizes: np.ndarray, alpha: float) -> np.ndarray:
    """(N, 18) bool: predicted and target present, and within alpha x head size on both axes."""
    both = (pred != MISSING).all(axis=-1) & (target[..., 0] != MISSING)
    distance = np.abs(pred.astype(np.float64) - target.astype(np.float64))  # (N, 18, 2) of (dy, dx)
    inside = (distance < alpha * sizes[:, None, :]).all(axis=-1)
    return both & inside


def pckh(pred: np.ndarray, target: np.ndarray, alpha: float = 0.5) -> tuple[float | None, dict[str, Any]]:
    """Pooled PCKh of predictions against targets, both (N, 18, 2) int (y, x) with -1 missing.

    Returns ``(value, details)``; ``value`` is None when no image has a usable head box
    or no target keypoint is present. ``details`` holds ``correct``, ``total``,
    ``images``, ``skipped_images`` and ``alpha``.
    """
    pred, target = np.asarray(pred), np.asarray(target)
    if pred.shape != target.shape or pred.shape[1:] != (NUM_KEYPOINTS, 2):
        raise ValueError(f"pred and target must both be (N, {NUM_KEYPOINTS}, 2), got {pred.shape} and {target.shape}")
    sizes, valid = head_boxes(target)
    correct = correct_keypoints(pred, target, sizes, alpha)[valid]
    total = int((target[valid][..., 0] != MISSING).sum())
    n_correct = int(correct.sum())
    details = {
        "correct": n_correct,
        "total": total,
        "images": int(len(target)),
        "skipped_images": int((~valid).sum()),
        "alpha": alpha,
    }
    return (n_correct / total if total else None), details


@METRICS.register("pckh", METRIC_SPECS["pckh"])
def pckh_metric(inputs: EvalInputs, protocol: Protocol) -> MetricResult:
    """PCKh of the pose estimator in ``inputs.pose_estimator`` on the generated images.

    The estimator is given ``inputs.pose_names`` (one key per image, used by the
    CSV estimator to find its rows; defaults to ``from___to``).
    """
    estimator = inputs.pose_estimator
    if estimator is None:
        return MetricResult.unavailable(
            "no pose estimator: pass --estimator csv:PATH (OpenPose keypoints of the generated images) "
            "heatmap:PATH (a checkpoint from `bench pose train`) or rtmpose (an off-the-shelf RTMPose model)"
        )
    names = inputs.pose_names or [pair_stem(a, b) for a, b in inputs.pairs]
    pred = estimator.predict(inputs.generated, names)
    value, details = pckh(pred, inputs.target_keypoints, alpha=0.5)
    details["estimator"] = estimator.name
    if value is None:
        return MetricResult.unavailable("no test image has a usable head box (>= 2 head keypoints)", **details)
    return MetricResult(value=value, details=details)
