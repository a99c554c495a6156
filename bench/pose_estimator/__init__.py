"""Pose estimators for PCKh: something that finds the 18 keypoints in images.

The published PCKh numbers come from the CMU OpenPose model (``pose_estimator.h5``)
that also produced the dataset annotations (protocol.md section 7). That model is
not available here, so two estimators sit behind one small interface:

* :class:`CsvEstimator`: keypoints computed elsewhere (e.g. by the original
  OpenPose pipeline) and supplied as an annotation CSV. This is the way to
  reproduce paper numbers.
* :class:`HeatmapEstimator`: a compact heatmap-regression network trained on the
  dataset's own training annotations (``bench pose train``). Its PCKh is a
  consistent yardstick across models, not the paper's number.
* :class:`RtmposeEstimator`: OpenMMLab's RTMPose-m, an off-the-shelf COCO-17
  estimator on onnxruntime, mapped to the 18 OpenPose points (``rtmpose``: the
  published model, fetched on first use and checked; ``rtmpose:PATH``: another
  ONNX file with the same input and outputs). A standard estimator anyone can
  rerun, not the OpenPose model of the papers.

An estimator's ``name`` says which one produced a PCKh (CSV path, or checkpoint hash).
"""
from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from bench.errors import BenchError


@runtime_checkable
class PoseEstimator(Protocol):
    name: str

    def predict(self, images: np.ndarray, names: list[str]) -> np.ndarray:
        """Keypoints of uint8 images (N, H, W, 3) as (N, 18, 2) int (y, x), -1 missing."""
        ...


def load_estimator(spec: str | None, weights_dir: str | Path | None = None) -> PoseEstimator | None:
    """``csv:PATH``, ``heatmap:PATH``, ``rtmpose[:PATH]`` or ``none`` (also None / empty) -> an estimator or None."""
    if spec is None or spec.strip().lower() in ("", "none"):
        return None
    kind, sep, path = spec.partition(":")
    if kind == "rtmpose":
        from bench.pose_estimator.rtmpose import RtmposeEstimator

        return RtmposeEstimator(Path(path)) if path else RtmposeEstimator.published(weights_dir)
    if not sep or not path:
        raise BenchError(f"--estimator must be csv:PATH, heatmap:PATH, rtmpose, rtmpose:PATH or none, got {spec!r}")
    if kind == "csv":
        from bench.pose_estimator.csv_estimator import CsvEstimator

        return CsvEstimator(Path(path))
    if kind == "heatmap":
        from bench.pose_estimator.heatmap import HeatmapEstimator

        return HeatmapEstimator.load(Path(path))
    raise BenchError(f"unknown estimator kind {kind!r} in {spec!r}; valid: csv, heatmap, rtmpose, none")


__all__ = ["PoseEstimator", "load_estimator"]
