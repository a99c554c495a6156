"""An off-the-shelf estimator: OpenMMLab's RTMPose (SimCC head, COCO-17) on onnxruntime, as OpenPose's 18 points.

RTMPose (Jiang et al. 2023, open-mmlab/mmpose projects/rtmpose) is run top-down the
way rtmlib's ``RTMPose`` runs the ONNX SDK exports: the person box is the whole frame
(every pose-transfer image holds one centred person), enlarged 1.25 times and
widened to the model's aspect ratio, warped to the input size (bilinear, black
outside the frame), normalised with ImageNet mean/std in RGB order (mmpose's
``bgr_to_rgb=True`` preprocessor; our images are RGB), and the two SimCC vectors
of each keypoint are decoded by their argmax (split ratio = vector length / input
size; the score is the smaller of the two maxima) and mapped back to the frame.

COCO-17 becomes the 18 OpenPose points as DWPose does for ControlNet
(IDEA-Research/DWPose ``annotator/dwpose/wholebody.py``): the neck is the midpoint
of the shoulders and exists only when both do; a keypoint whose score is at most
``threshold`` (DWPose: 0.3) is missing (-1), and so is one placed outside the frame
(the annotation files hold only points inside it). Coordinates are rounded to
integer (y, x) as in the annotation files.

The published model (``rtmpose-m-body7`` in :mod:`bench.weights`) is fetched on
first use on a connected machine and checked (size, full sha256) before it is
opened. It is not the CMU OpenPose model behind the papers' PCKh, so its PCKh is
labelled with its own name.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.data.keypoints import MISSING, NUM_KEYPOINTS
from bench.errors import BenchError

WEIGHT = "rtmpose-m-body7"
MEAN = (123.675, 116.28, 103.53)  # RGB, mmpose's PoseDataPreprocessor
STD = (58.395, 57.12, 57.375)
PADDING = 1.25  # box enlargement of mmpose's top-down inference and rtmlib
COCO_KEYPOINTS = 17

# OpenPose index -> COCO-17 index; the neck (OpenPose 1) is made from the shoulders (COCO 5 and 6).
OPENPOSE_FROM_COCO: tuple[int | None, ...] = (
    0, None,  # nose, neck
    6, 8, 10,  # right shoulder, elbow, wrist
    5, 7, 9,  # left shoulder, elbow, wrist
    12, 14, 16,  # right hip, knee, ankle
    11, 13, 15,  # left hip, knee, ankle
    2, 1, 4, 3,  # right eye, left eye, right ear, left ear
)
COCO_L_SHOULDER, COCO_R_SHOULDER = 5, 6


def coco_to_openpose(xy: np.ndarray, scores: np.ndarray, threshold: float, size: tuple[int, int]) -> np.ndarray:
    """COCO-17 keypoints (17, 2) float (x, y) with scores (17,) -> (18, 2) int (y, x), -1 where missing.

    Present: score above ``threshold`` and, once rounded, inside the ``size`` (H, W) frame.
    The neck is the midpoint of the two shoulders (before rounding) when both are present.
    """
    if xy.shape != (COCO_KEYPOINTS, 2) or scores.shape != (COCO_KEYPOINTS,):
        raise ValueError(f"expected (17, 2) keypoints and (17,) scores, got {xy.shape} and {scores.shape}")
    h, w = size
    present = scores > threshold
    out = np.full((NUM_KEYPOINTS, 2), MISSING, np.int64)

    def put(i: int, x: float, y: float) -> None:
        ry, rx = int(np.rint(y)), int(np.rint(x))
        if 0 <= ry < h and 0 <= rx < w:
            out[i] = (ry, rx)

    for i, c in enumerate(OPENPOSE_FROM_COCO):
        if c is not None and present[c]:
            put(i, *xy[c])
    if present[COCO_L_SHOULDER] and present[COCO_R_SHOULDER]:
        put(1, *((xy[COCO_L_SHOULDER] + xy[COCO_R_SHOULDER]) / 2))
    return out


@dataclass(frozen=True)
class Crop:
    """The top-down box: centre and size (x, y) in frame pixels, after padding and aspect fix."""

    center: np.ndarray
    scale: np.ndarray

    @classmethod
    def whole_frame(cls, size: tuple[int, int], input_size: tuple[int, int]) -> Crop:
        """mmpose's ``bbox_xyxy2cs`` of the box (0, 0, W, H) with padding 1.25, then ``_fix_aspect_ratio``."""
        h, w = size
        in_h, in_w = input_size
        bw, bh = w * PADDING, h * PADDING
        aspect = in_w / in_h
        if bw > bh * aspect:
            bh = bw / aspect
        else:
            bw = bh * aspect
        return cls(np.array([w / 2, h / 2]), np.array([bw, bh]))

    def to_frame(self, locs: np.ndarray, input_size: tuple[int, int]) -> np.ndarray:
        """Input-pixel (x, y) -> frame-pixel (x, y): RTMPose's ``keypoints / input_size * scale + center - scale / 2``."""
        in_h, in_w = input_size
        return locs / np.array([in_w, in_h]) * self.scale + self.center - self.scale / 2


def warp(image: np.ndarray, crop: Crop, input_size: tuple[int, int]) -> np.ndarray:
    """The crop resampled to ``input_size`` (H, W): bilinear, 0 outside the frame, rounded to uint8.

    The same map as mmpose's ``get_warp_matrix`` + ``cv2.warpAffine`` (pixel indices, no rotation):
    output pixel (u, v) samples the frame at ``center + ((u, v) - input_size / 2) * scale / input_size``.
    """
    in_h, in_w = input_size
    h, w = image.shape[:2]
    step = crop.scale / np.array([in_w, in_h])
    xs = crop.center[0] + (np.arange(in_w) - in_w / 2) * step[0]
    ys = crop.center[1] + (np.arange(in_h) - in_h / 2) * step[1]
    x0, y0 = np.floor(xs).astype(np.int64), np.floor(ys).astype(np.int64)
    fx, fy = (xs - x0)[None, :, None], (ys - y0)[:, None, None]
    padded = np.zeros((h + 2, w + 2, image.shape[2]), np.float64)  # one ring of zeros: cv2's BORDER_CONSTANT 0
    padded[1:-1, 1:-1] = image
    cx0, cx1 = np.clip(x0 + 1, 0, w + 1), np.clip(x0 + 2, 0, w + 1)
    cy0, cy1 = np.clip(y0 + 1, 0, h + 1), np.clip(y0 + 2, 0, h + 1)
    top = padded[cy0][:, cx0] * (1 - fx) + padded[cy0][:, cx1] * fx
    bottom = padded[cy1][:, cx0] * (1 - fx) + padded[cy1][:, cx1] * fx
    return np.clip(np.rint(top * (1 - fy) + bottom * fy), 0, 255).astype(np.uint8)


def simcc_maximum(simcc_x: np.ndarray, simcc_y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(K, 2) argmax locations (x, y) in SimCC bins and (K,) scores = min(max_x, max_y) (RTMPose's decoder)."""
    locs = np.stack([simcc_x.argmax(-1), simcc_y.argmax(-1)], -1).astype(np.float64)
    scores = np.minimum(simcc_x.max(-1), simcc_y.max(-1)).astype(np.float64)
    return locs, scores


class RtmposeEstimator:
    """RTMPose (or any ONNX model with its input and SimCC outputs) behind :class:`PoseEstimator`."""

    def __init__(self, model: str | Path, threshold: float = 0.3, label: str | None = None):
        import onnxruntime as ort

        self.path = Path(model)
        if not self.path.is_file():
            raise BenchError(f"{self.path}: no such ONNX model file")
        options = ort.SessionOptions()
        options.log_severity_level = 3  # warnings of the runtime are not ours to print
        try:
            self.session = ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
        except Exception as err:  # noqa: BLE001 - onnxruntime raises its own error types for a bad file
            raise BenchError(f"{self.path}: not an ONNX model onnxruntime can load ({str(err).splitlines()[0][:120]})") from None
        self.threshold = threshold
        self.input = self.session.get_inputs()[0]
        shape = self.input.shape
        if len(shape) != 4 or not all(isinstance(d, int) for d in shape[2:]) or shape[1] != 3:
            raise BenchError(f"{self.path}: input {self.input.name} has shape {shape}, expected (N, 3, H, W) with fixed H, W")
        self.input_size = (int(shape[2]), int(shape[3]))
        outputs = self.session.get_outputs()
        if len(outputs) != 2:
            raise BenchError(f"{self.path}: {len(outputs)} outputs, expected the two SimCC vectors (simcc_x, simcc_y)")
        digest = hashlib.sha256(self.path.read_bytes()).hexdigest()
        self.sha256 = digest
        version = ort.__version__
        self.name = (f"{label or f'rtmpose:{self.path}'} (sha256 {digest[:12]}; onnxruntime {version}; "
                     f"COCO-17 -> OpenPose-18, neck = shoulder midpoint, score > {threshold:g})")

    @classmethod
    def published(cls, weights_dir: str | Path | None = None, threshold: float = 0.3, download: bool = True) -> RtmposeEstimator:
        """The published RTMPose-m model: from the weights folders, else fetched (first use, connected machine)."""
        from bench import weights

        path = weights.find(WEIGHT, weights_dir)
        if path is None and download:
            path = weights.download(WEIGHT)
        path = weights.require(WEIGHT, weights_dir if path is None else path.parent)
        return cls(path, threshold, label="RTMPose-m body7 256x192 (OpenMMLab ONNX)")

    def run(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """COCO-17 (17, 2) frame (x, y) and (17,) scores of one uint8 RGB image (H, W, 3)."""
        crop = Crop.whole_frame(image.shape[:2], self.input_size)
        pixels = (warp(image, crop, self.input_size).astype(np.float32) - np.float32(MEAN)) / np.float32(STD)
        simcc_x, simcc_y = self.session.run(None, {self.input.name: pixels.transpose(2, 0, 1)[None]})
        in_h, in_w = self.input_size
        if simcc_x.ndim != 3 or simcc_y.ndim != 3 or simcc_x.shape[1] != COCO_KEYPOINTS or simcc_y.shape[1] != COCO_KEYPOINTS:
            raise BenchError(f"{self.path}: outputs of shape {simcc_x.shape} and {simcc_y.shape}, expected (1, 17, W*k) "
                             "and (1, 17, H*k): not a COCO-17 SimCC model")
        ratio = simcc_x.shape[2] / in_w
        if simcc_y.shape[2] != round(in_h * ratio):
            raise BenchError(f"{self.path}: SimCC lengths {simcc_x.shape[2]} and {simcc_y.shape[2]} do not match the "
                             f"input {in_w}x{in_h} (WxH) with one split ratio")
        locs, scores = simcc_maximum(simcc_x[0], simcc_y[0])
        return crop.to_frame(locs / ratio, self.input_size), scores

    def predict(self, images: np.ndarray, names: list[str]) -> np.ndarray:
        if len(images) != len(names):
            raise ValueError(f"{len(images)} images but {len(names)} names")
        out = np.full((len(images), NUM_KEYPOINTS, 2), MISSING, np.int64)
        for i, image in enumerate(images):
            xy, scores = self.run(image)
            out[i] = coco_to_openpose(xy, scores, self.threshold, image.shape[:2])
        return out
