"""A compact heatmap-regression pose estimator (18 OpenPose keypoints, one person).

A small U-Net: four stride-2 stages down to 1/16 of the input (on Market 8x4 cells,
so the bottleneck sees the whole body, which is what tells a left wrist from a
right one in a back view), then upsampling with skip connections back to 1/4,
where a 1x1 convolution gives 18 sigmoid heatmaps. Large frames (DeepFashion
256x176) are first shrunk by ``downsample`` so every dataset costs about the same;
heatmap cells are then ``4 * downsample`` image pixels.

Training (``bench pose train``, :mod:`bench.pose_estimator.train`) pulls the
heatmaps (focal loss) towards Gaussians peaking at the annotated keypoints and
towards zero for missing ones. Decoding averages the heatmaps of the image and of
its mirror image (left/right channels swapped back), takes each channel's peak:
below that keypoint's ``thresholds`` entry (calibrated on the training set) the
keypoint is missing, otherwise its position is refined to sub-cell precision with
a parabola through the log of the peak and its neighbours (exact for a Gaussian;
on the border, from its one neighbour and the known sigma) and mapped back to
image pixels.

Checkpoints hold the state dict, the config and provenance, and load with
``weights_only=True``.
"""
from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from bench.data.keypoints import FLIP_PERMUTATION, MISSING, NUM_KEYPOINTS
from bench.errors import DataError

STRIDE = 4  # heatmaps are at 1/4 of the network's input resolution
CHECKPOINT_FORMAT = "bench-pose-heatmap-v2"  # v2: U-Net to 1/16, downsample, per-keypoint thresholds


@dataclass(frozen=True)
class HeatmapConfig:
    image_size: tuple[int, int] = (128, 64)  # (H, W) of the dataset frame
    width: int = 32  # channels of the first stage; deeper stages use 2, 4 and 4 times as many
    sigma: float = 1.5  # std of the target Gaussians, in heatmap cells
    threshold: float = 0.2  # sigmoid peak below this: keypoint missing (when ``thresholds`` is empty)
    thresholds: tuple[float, ...] = ()  # one per keypoint, calibrated on the training set
    downsample: int = 1  # the network sees the frame shrunk by this factor
    flip_test: bool = True  # average with the mirror image's heatmaps

    @property
    def stride(self) -> int:
        """Image pixels per heatmap cell."""
        return STRIDE * self.downsample

    def keypoint_thresholds(self) -> torch.Tensor:
        values = self.thresholds or (self.threshold,) * NUM_KEYPOINTS
        if len(values) != NUM_KEYPOINTS:
            raise ValueError(f"thresholds must have {NUM_KEYPOINTS} entries, got {len(values)}")
        return torch.tensor(values, dtype=torch.float32)


def _conv(c_in: int, c_out: int, stride: int = 1) -> nn.Sequential:
    groups = 8 if c_out % 8 == 0 else 1  # GroupNorm: same behaviour in train and eval, fine with small batches
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.GroupNorm(groups, c_out), nn.ReLU(inplace=True))


def _up(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, size=like.shape[-2:], mode="bilinear", align_corners=False)


class HeatmapNet(nn.Module):
    def __init__(self, width: int = 32):
        super().__init__()
        w = width
        self.stem = nn.Sequential(_conv(3, w, stride=2), _conv(w, w))  # 1/2
        self.down4 = nn.Sequential(_conv(w, 2 * w, stride=2), _conv(2 * w, 2 * w))  # 1/4
        self.down8 = nn.Sequential(_conv(2 * w, 4 * w, stride=2), _conv(4 * w, 4 * w))  # 1/8
        self.down16 = nn.Sequential(_conv(4 * w, 4 * w, stride=2), _conv(4 * w, 4 * w), _conv(4 * w, 4 * w))  # 1/16
        self.up8 = _conv(8 * w, 4 * w)
        self.up4 = nn.Sequential(_conv(6 * w, 2 * w), _conv(2 * w, 2 * w))
        self.head = nn.Conv2d(2 * w, NUM_KEYPOINTS, 1)
        nn.init.constant_(self.head.bias, -2.19)  # sigmoid 0.1: background starts low (CenterNet)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """images (N, 3, H, W) in [-1, 1] -> heatmap logits (N, 18, ceil(H/4), ceil(W/4))."""
        x4 = self.down4(self.stem(images))
        x8 = self.down8(x4)
        x16 = self.down16(x8)
        y8 = self.up8(torch.cat([x8, _up(x16, x8)], dim=1))
        return self.head(self.up4(torch.cat([x4, _up(y8, x4)], dim=1)))


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 (N, H, W, 3) -> float (N, 3, H, W) in [-1, 1]."""
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)


def shrink(images: torch.Tensor, factor: int) -> torch.Tensor:
    """Average-pool by ``factor`` (ceil mode, so the heatmap grid covers the whole frame)."""
    return images if factor == 1 else F.avg_pool2d(images, factor, ceil_mode=True)


def heatmap_size(image_size: tuple[int, int], stride: int = STRIDE) -> tuple[int, int]:
    h, w = image_size
    return (h + stride - 1) // stride, (w + stride - 1) // stride


def render_targets(keypoints: np.ndarray, image_size: tuple[int, int], sigma: float, stride: int = STRIDE) -> torch.Tensor:
    """Gaussian target heatmaps (N, 18, h, w) for (N, 18, 2) (y, x) keypoints; zero where missing (-1).

    Cell (i, j) covers image pixels [s*i, s*i + s-1] (s = stride), so its centre is pixel s*i + (s-1)/2.
    """
    h, w = heatmap_size(image_size, stride)
    kp = torch.as_tensor(keypoints, dtype=torch.float32)
    centre = (kp - (stride - 1) / 2) / stride  # (N, 18, 2) in cells
    dy = torch.arange(h, dtype=torch.float32).view(1, 1, h, 1) - centre[..., 0, None, None]
    dx = torch.arange(w, dtype=torch.float32).view(1, 1, 1, w) - centre[..., 1, None, None]
    maps = torch.exp(-(dy**2 + dx**2) / (2 * sigma**2))
    present = (kp[..., 0] != MISSING).float()[..., None, None]
    return maps * present


def _parabola_offset(left: torch.Tensor, mid: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
    """Vertex of the parabola through log values at -1, 0, +1 (exact for a Gaussian)."""
    eps = 1e-6
    l, m, r = (torch.log(v.clamp_min(eps)) for v in (left, mid, right))
    curvature = l - 2 * m + r
    offset = torch.where(curvature < -eps, (l - r) / (2 * curvature).clamp(max=-eps), torch.zeros_like(m))
    return offset.clamp(-0.5, 0.5)


def _one_sided_offset(mid: torch.Tensor, inner: torch.Tensor, sigma: float) -> torch.Tensor:
    """Offset towards the inner neighbour from the peak and that neighbour alone, for a Gaussian of
    known ``sigma``: log(mid / inner) = (1 - 2 offset) / (2 sigma^2)."""
    eps = 1e-6
    ratio = torch.log(mid.clamp_min(eps)) - torch.log(inner.clamp_min(eps))
    return (0.5 - sigma**2 * ratio).clamp(-1.0, 0.5)


def _refine(before: torch.Tensor, mid: torch.Tensor, after: torch.Tensor, index: torch.Tensor, length: int, sigma: float) -> torch.Tensor:
    """Sub-cell offset along one axis: a parabola inside; at the border (a keypoint on the
    image edge, e.g. Market ankles at y=127) only one neighbour exists."""
    offset = _parabola_offset(before, mid, after)
    if length < 2:
        return torch.zeros_like(offset)
    offset = torch.where(index == 0, _one_sided_offset(mid, after, sigma), offset)
    return torch.where(index == length - 1, -_one_sided_offset(mid, before, sigma), offset)


def decode_heatmaps(
    heatmaps: torch.Tensor, image_size: tuple[int, int], threshold: float | torch.Tensor, sigma: float = 1.5, stride: int = STRIDE
) -> np.ndarray:
    """(N, 18, h, w) heatmaps -> (N, 18, 2) int (y, x) in image pixels, -1 where the peak < threshold.

    ``threshold`` is one number or one per keypoint (18,).
    """
    n, k, h, w = heatmaps.shape
    flat = heatmaps.reshape(n, k, h * w)
    peak, index = flat.max(dim=-1)
    iy, ix = index // w, index % w
    padded = F.pad(heatmaps, (1, 1, 1, 1), mode="replicate").reshape(n, k, -1)

    def at(dy: int, dx: int) -> torch.Tensor:
        return padded.gather(-1, ((iy + 1 + dy) * (w + 2) + ix + 1 + dx)[..., None])[..., 0]

    y = iy.float() + _refine(at(-1, 0), peak, at(1, 0), iy, h, sigma)
    x = ix.float() + _refine(at(0, -1), peak, at(0, 1), ix, w, sigma)
    coords = torch.stack([y, x], dim=-1) * stride + (stride - 1) / 2
    coords = torch.round(coords).long()
    coords[..., 0].clamp_(0, image_size[0] - 1)
    coords[..., 1].clamp_(0, image_size[1] - 1)
    coords[peak < torch.as_tensor(threshold, dtype=peak.dtype)] = MISSING
    return coords.numpy().astype(np.int64)


def mirror_heatmaps(heatmaps: torch.Tensor, image_width: int, stride: int) -> torch.Tensor:
    """Heatmaps of a mirrored image -> heatmaps of the original: swap left/right channels, flip x.

    Cells map to pixels [s*j, s*j + s-1]; mirroring pixel x to W-1-x maps cell j to cell
    ``W/s - 1 - j`` exactly only when s divides W, otherwise by a fraction of a cell, which
    is shifted back with linear interpolation.
    """
    swapped = heatmaps[:, list(FLIP_PERMUTATION)].flip(-1)
    w = heatmaps.shape[-1]
    shift = w - image_width / stride  # >= 0: original cell j lies at position j + shift of ``swapped``
    if shift == 0:
        return swapped
    x = torch.arange(w, dtype=heatmaps.dtype) + shift
    lo = x.floor().long().clamp(0, w - 1)
    hi = (lo + 1).clamp(max=w - 1)
    frac = (x - x.floor()).clamp(0, 1)
    return swapped[..., lo] * (1 - frac) + swapped[..., hi] * frac


def file_digest(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:12]


class HeatmapEstimator:
    """A trained :class:`HeatmapNet` behind the ``PoseEstimator`` interface."""

    def __init__(self, net: HeatmapNet, config: HeatmapConfig, name: str = "heatmap:untrained", device: str = "cpu"):
        self.net = net.to(device).eval()
        self.config = config
        self.name = name
        self.device = device
        self.provenance: dict[str, Any] = {}

    @classmethod
    def load(cls, path: str | Path, device: str = "cpu") -> "HeatmapEstimator":
        path = Path(path)
        try:
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
        except FileNotFoundError:
            raise DataError(path, "pose estimator checkpoint not found (train one with `bench pose train`)") from None
        except Exception as err:  # unpickling errors differ by torch version
            raise DataError(path, f"cannot read pose estimator checkpoint: {err}") from None
        if not isinstance(ckpt, dict) or not str(ckpt.get("format", "")).startswith("bench-pose-heatmap-"):
            raise DataError(path, f"not a heatmap pose estimator checkpoint (expected format {CHECKPOINT_FORMAT!r})")
        if ckpt["format"] != CHECKPOINT_FORMAT:
            raise DataError(path, f"checkpoint format {ckpt['format']!r} is outdated (now {CHECKPOINT_FORMAT!r}): "
                                  "retrain it with `bench pose train`")
        net = HeatmapNet(config_from_dict(ckpt["config"]).width)
        net.load_state_dict(ckpt["state_dict"])
        estimator = cls(net, config_from_dict(ckpt["config"]), name=f"heatmap:{path} (sha256 {file_digest(path)})", device=device)
        estimator.provenance = dict(ckpt.get("provenance", {}))
        return estimator

    @torch.no_grad()
    def predict(self, images: np.ndarray, names: list[str] | None = None, batch_size: int = 64) -> np.ndarray:
        if images.shape[1:3] != self.config.image_size:
            raise DataError(self.name, f"images are {images.shape[1:3]}, the estimator was trained on {self.config.image_size}")
        out = [self._predict_batch(images[i : i + batch_size]) for i in range(0, len(images), batch_size)]
        return np.concatenate(out) if out else np.zeros((0, NUM_KEYPOINTS, 2), np.int64)

    @torch.no_grad()
    def heatmaps(self, images: np.ndarray) -> torch.Tensor:
        """Sigmoid heatmaps (N, 18, h, w) of uint8 images, averaged with the mirror image's when ``flip_test``."""
        c = self.config
        x = shrink(to_tensor(images).to(self.device), c.downsample)
        maps = torch.sigmoid(self.net(x).float()).cpu()
        if c.flip_test:
            mirrored = torch.sigmoid(self.net(x.flip(-1)).float()).cpu()
            maps = (maps + mirror_heatmaps(mirrored, x.shape[-1] * c.downsample, c.stride)) / 2
        return maps

    def _predict_batch(self, images: np.ndarray) -> np.ndarray:
        c = self.config
        return decode_heatmaps(self.heatmaps(images), c.image_size, c.keypoint_thresholds(), c.sigma, c.stride)


def config_dict(config: HeatmapConfig) -> dict[str, Any]:
    fields = dataclasses.asdict(config)
    fields["image_size"] = list(config.image_size)
    fields["thresholds"] = [float(t) for t in config.thresholds]
    return fields


def config_from_dict(fields: dict[str, Any]) -> HeatmapConfig:
    fields = dict(fields)
    fields["image_size"] = tuple(fields["image_size"])
    fields["thresholds"] = tuple(float(t) for t in fields.get("thresholds", ()))
    return HeatmapConfig(**fields)
