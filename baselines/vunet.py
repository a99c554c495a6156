"""VUnet: A Variational U-Net for Conditional Appearance and Shape Generation (Esser et al., CVPR 2018).

Architecture, inputs and objective from the authors' cleaned-up release, CompVis/vunet
(``models.py``, ``nn.py``, ``main.py``, ``batches.py``, ``deeploss.py``, ``market.yaml``,
``deepfashion.yaml``). Its README calls the release a cleaned-up, slightly modified
version of the paper's code with one model unified across datasets, incompatible with
the original checkpoints; this module follows the release.

Notes on the original code, what differs and the open gaps: docs/models/vunet.md.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from baselines.layers.blocks import build_config, scaled
from bench.cards import ModelCard
from bench.data.keypoints import NAMES
from bench.errors import BenchError
from bench.models.base import Batch, PoseTransferModel
from bench.registry import MODELS

IMAGE_CHANNELS = 3
N_PARTS = 8
CANVAS_MODES = ("stretch", "pad")
APPEARANCE_SOURCES = ("target", "source")
GENERATOR_MODES = ("train", "transfer", "sample")
#: VGG19 layers after the input term, i.e. Keras block1..5_conv2 (Conv2D with ReLU).
VGG_LAYERS = ("relu1_2", "relu2_2", "relu3_2", "relu4_2", "relu5_2")
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)


# --------------------------------------------------------------------------------------
# Stickman and body-part crops (batches.py), in the original's (x, y) convention

_J = {name: i for i, name in enumerate(NAMES)}
RIGHT_LIMBS = (("r_ankle", "r_knee"), ("r_knee", "r_hip"), ("r_hip", "r_shoulder"), ("r_shoulder", "r_elbow"),
               ("r_elbow", "r_wrist"))
LEFT_LIMBS = tuple((a.replace("r_", "l_"), b.replace("r_", "l_")) for a, b in RIGHT_LIMBS)
BODY = ("l_hip", "l_shoulder", "r_shoulder", "r_hip")
PARTS = (("l_shoulder", "l_hip", "r_hip", "r_shoulder"), ("l_shoulder", "r_shoulder", "nose"),
         ("l_shoulder", "l_elbow"), ("l_elbow", "l_wrist"), ("r_shoulder", "r_elbow"), ("r_elbow", "r_wrist"),
         ("l_hip", "l_knee"), ("r_hip", "r_knee"))
PART_ASPECT = 0.5  # ``ar`` of batches.normalize: limb boxes are half as wide as long


def stickman_thickness(size: int) -> int:
    return int(3 * size / 128)


def _known(points: torch.Tensor, *names: str) -> torch.Tensor:
    """(B,) True where every named joint has non-negative coordinates."""
    idx = [_J[n] for n in names]
    return (points[:, idx] >= 0).all(-1).all(-1)


def _pixel_grid(size: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixel-centre coordinates x (1, S) and y (S, 1)."""
    coords = torch.arange(size, device=device, dtype=torch.float64)
    return coords[None], coords[:, None]


def _segment_distance2(grid: tuple[torch.Tensor, torch.Tensor], a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(B, S, S) squared distance from each pixel centre to the segment a-b, a/b (B, 2)."""
    x, y = grid
    ax, ay = a[:, 0, None, None], a[:, 1, None, None]
    dx, dy = b[:, 0, None, None] - ax, b[:, 1, None, None] - ay
    rx, ry = x - ax, y - ay
    t = ((rx * dx + ry * dy) / (dx * dx + dy * dy).clamp_min(1e-12)).clamp(0, 1)
    return (rx - t * dx) ** 2 + (ry - t * dy) ** 2


def _line(grid: torch.Tensor, a: torch.Tensor, b: torch.Tensor, thickness: int) -> torch.Tensor:
    return _segment_distance2(grid, a.floor(), b.floor()) <= (thickness / 2) ** 2


def _polygon(grid: tuple[torch.Tensor, torch.Tensor], corners: torch.Tensor) -> torch.Tensor:
    """(B, S, S) even-odd interior of the polygon ``corners`` (B, K, 2), edges included."""
    corners = corners.floor()
    x, y = grid
    inside = torch.zeros(corners.shape[0], y.shape[0], x.shape[1], dtype=torch.bool, device=x.device)
    edge = torch.zeros_like(inside)
    for k in range(corners.shape[1]):
        p, q = corners[:, k], corners[:, (k + 1) % corners.shape[1]]
        px, py, qx, qy = (v[:, None, None] for v in (p[:, 0], p[:, 1], q[:, 0], q[:, 1]))
        crosses = (py > y) != (qy > y)
        x_cross = px + (y - py) * (qx - px) / torch.where(qy == py, torch.ones_like(qy), qy - py)
        inside ^= crosses & (x < x_cross)
        edge |= _segment_distance2(grid, p, q) <= 0.25
    return inside | edge


def stickman(points: torch.Tensor, size: int) -> torch.Tensor:
    """(B, 3, S, S) stickman with values 0 / 127 / 255 from (B, 18, 2) (x, y) canvas points.

    Unknown joints are negative. Drawn as ``batches.make_joint_img`` (see the module
    docstring for the raster).
    """
    points = points.to(torch.float64)
    grid, thickness = _pixel_grid(size, points.device), stickman_thickness(size)
    out = torch.zeros(points.shape[0], 3, size, size, dtype=torch.float64, device=points.device)
    body = _known(points, *BODY)[:, None, None] & _polygon(grid, points[:, [_J[n] for n in BODY]])
    out[:, 2] = torch.where(body, 255.0, 0.0)
    neck = 0.5 * (points[:, _J["r_shoulder"]] + points[:, _J["l_shoulder"]])
    nose = points[:, _J["nose"]]
    neck_known = _known(points, "r_shoulder", "l_shoulder", "nose")
    eyes_known = _known(points, "r_eye", "l_eye", "nose")
    for channel, limbs, eye in ((0, RIGHT_LIMBS, "r_eye"), (1, LEFT_LIMBS, "l_eye")):
        strokes = [(points[:, _J[a]], points[:, _J[b]], _known(points, a, b), 255.0) for a, b in limbs]
        strokes += [(neck, nose, neck_known, 127.0), (nose, points[:, _J[eye]], eyes_known, 255.0)]
        for a, b, known, value in strokes:
            paint = known[:, None, None] & _line(grid, a, b, thickness)
            out[:, channel] = torch.where(paint, value, out[:, channel])
    return out.to(torch.float32)


def _box(p0: np.ndarray, p1: np.ndarray, alpha: float) -> tuple[np.ndarray, ...]:
    """Corners a, b, c, d of the box of half-width ``alpha * |p1 - p0|`` around p0-p1."""
    segment = p1 - p0
    normal = np.array([-segment[1], segment[0]])
    return p0 + alpha * normal, p0 - alpha * normal, p1 - alpha * normal, p1 + alpha * normal


def part_quad(points: np.ndarray, part: tuple[str, ...], size: int) -> np.ndarray | None:
    """The 4 source corners (x, y) of one body part's crop (``batches.get_crop``), or None."""
    names = list(part)
    src = points[[_J[n] for n in names]]
    if not (src >= 0).all():  # the original's fallbacks
        if names[1] in ("l_knee", "r_knee"):
            names = names[:1]
        elif names == ["l_shoulder", "r_shoulder", "nose"]:
            names = ["l_shoulder", "r_shoulder", "r_shoulder"]
        src = points[[_J[n] for n in names]]
    if not (src >= 0).all():
        return None
    if len(names) == 1:  # thigh fallback: straight down to the bottom row
        src = np.stack([src[0], np.array([src[0][0], size - 1.0])])
    if len(names) == 4:
        return src
    if names == ["l_shoulder", "r_shoulder", "r_shoulder"]:  # head fallback: square above the shoulders
        segment = src[1] - src[0]
        normal = np.array([-segment[1], segment[0]])
        if normal[1] > 0:
            normal = -normal
        return np.stack([src[0] + normal, src[0], src[1], src[1] + normal])
    if len(names) == 3:  # head: from twice the neck-to-nose vector above the neck down to the neck
        neck = 0.5 * (src[0] + src[1])
        a, b, c, d = _box(neck + 2 * (src[2] - neck), neck, 0.5)
        return np.stack([b, c, d, a])
    return np.stack(_box(src[0], src[1], PART_ASPECT / 2))


def homography(src: np.ndarray, dst: np.ndarray) -> np.ndarray | None:
    """3x3 M with M[2, 2] = 1 mapping the 4 points ``src`` onto ``dst`` (None if degenerate)."""
    rows, rhs = [], []
    for (x, y), (u, v) in zip(src, dst):
        rows += [[x, y, 1, 0, 0, 0, -u * x, -u * y], [0, 0, 0, x, y, 1, -v * x, -v * y]]
        rhs += [u, v]
    system = np.asarray(rows, dtype=np.float64)
    if abs(np.linalg.det(system)) < 1e-9:
        return None
    return np.append(np.linalg.solve(system, np.asarray(rhs, dtype=np.float64)), 1.0).reshape(3, 3)


def crop_maps(points: np.ndarray, size: int, crop: int) -> np.ndarray:
    """(8, 3, 3) maps from crop pixels to canvas pixels (NaN where a part is missing)."""
    corners = np.array([[0, 0], [0, crop], [crop, crop], [crop, 0]], dtype=np.float64)
    maps = np.full((N_PARTS, 3, 3), np.nan)
    for k, part in enumerate(PARTS):
        quad = part_quad(points, part, size)
        inverse = homography(corners, quad) if quad is not None else None
        if inverse is not None:
            maps[k] = inverse
    return maps


def part_crops(images: torch.Tensor, points: torch.Tensor, crop: int) -> torch.Tensor:
    """(B, 24, c, c) body-part crops of (B, 3, S, S) canvas images; (B, 18, 2) (x, y) points."""
    batch, _, size, _ = images.shape
    maps = np.stack([crop_maps(p, size, crop) for p in points.detach().cpu().to(torch.float64).numpy()])
    maps = torch.from_numpy(maps).to(images.device)  # (B, 8, 3, 3), float64
    coords = torch.arange(crop, device=images.device, dtype=torch.float64)
    v, u = torch.meshgrid(coords, coords, indexing="ij")
    pixels = torch.stack((u, v, torch.ones_like(u)), -1)  # (c, c, 3)
    src = torch.einsum("bkij,hwj->bkhwi", maps, pixels)
    xy = src[..., :2] / src[..., 2:]
    ok = torch.isfinite(xy).flatten(2).all(-1)  # (B, 8)
    grid = (torch.nan_to_num(xy) * 2 / (size - 1) - 1).to(images.dtype)
    repeated = images[:, None].expand(batch, N_PARTS, *images.shape[1:]).reshape(-1, *images.shape[1:])
    warped = F.grid_sample(repeated, grid.reshape(-1, crop, crop, 2), mode="bilinear", padding_mode="border",
                           align_corners=True).reshape(batch, N_PARTS, IMAGE_CHANNELS, crop, crop)
    return (warped * ok[..., None, None, None].to(images.dtype)).reshape(batch, N_PARTS * IMAGE_CHANNELS, crop, crop)


# --------------------------------------------------------------------------------------
# Weight-normalised layers (nn.py) and TensorFlow's space/depth rearrangements


def depth_to_space(x: torch.Tensor, block: int = 2) -> torch.Tensor:
    """TF ``depth_to_space`` in NCHW: channel ``(i * block + j) * C + c`` goes to offset (i, j)."""
    b, c, h, w = x.shape
    x = x.reshape(b, block, block, c // block**2, h, w).permute(0, 3, 4, 1, 5, 2)
    return x.reshape(b, c // block**2, h * block, w * block)


def space_to_depth(x: torch.Tensor, block: int = 2) -> torch.Tensor:
    """Inverse of :func:`depth_to_space`."""
    b, c, h, w = x.shape
    x = x.reshape(b, c, h // block, block, w // block, block).permute(0, 3, 5, 1, 2, 4)
    return x.reshape(b, c * block**2, h // block, w // block)


def split_groups(x: torch.Tensor) -> list[torch.Tensor]:
    """The four pixels of every 2x2 block as four half-size maps (``nn.split_groups``)."""
    return list(space_to_depth(x).chunk(4, dim=1))


def merge_groups(groups: list[torch.Tensor]) -> torch.Tensor:
    return depth_to_space(torch.cat(groups, 1))


def _same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class WNConv2d(nn.Module):
    """Weight-normalised conv (Salimans & Kingma 2016), ``w = g * V / ||V||`` per output channel.

    ``data_init = True`` makes the next forward set ``g, b`` so that its output has zero
    mean and unit variance per channel over the batch (``nn.conv2d`` / ``nn.dense`` with
    ``init=True``), then return that normalised output.
    """

    def __init__(self, in_ch: int, out_ch: int, kernel: int = 3, stride: int = 1, eps: float = 1e-8):
        super().__init__()
        self.kernel, self.stride, self.eps = kernel, stride, eps
        self.v = nn.Parameter(torch.randn(out_ch, in_ch, kernel, kernel) * 0.05)
        self.g = nn.Parameter(torch.ones(out_ch))
        self.b = nn.Parameter(torch.zeros(out_ch))
        self.data_init = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        top, bottom = _same_padding(x.shape[-2], self.kernel, self.stride)
        left, right = _same_padding(x.shape[-1], self.kernel, self.stride)
        if top or bottom or left or right:
            x = F.pad(x, (left, right, top, bottom))
        direction = self.v / self.v.flatten(1).norm(dim=1).clamp_min(1e-12)[:, None, None, None]
        if self.data_init:
            return self._initialise(F.conv2d(x, direction, stride=self.stride))
        return F.conv2d(x, direction * self.g[:, None, None, None], self.b, stride=self.stride)

    @torch.no_grad()
    def _initialise(self, out: torch.Tensor) -> torch.Tensor:
        mean, var = out.mean((0, 2, 3)), out.var((0, 2, 3), unbiased=False)
        scale = 1.0 / torch.sqrt(var + self.eps)
        self.g.copy_(scale)
        self.b.copy_(-mean * scale)
        return (out - mean[:, None, None]) * scale[:, None, None]

    def extra_repr(self) -> str:
        return f"{self.v.shape[1]}, {self.v.shape[0]}, kernel={self.kernel}, stride={self.stride}"


def nin(in_ch: int, out_ch: int) -> WNConv2d:
    """``nn.nin``: a weight-normalised dense layer over channels (its eps is 1e-10)."""
    return WNConv2d(in_ch, out_ch, kernel=1, eps=1e-10)


class ResidualBlock(nn.Module):
    """``x + conv3x3(dropout(elu([x, nin(elu(a))])))``; without ``a``: ``x + conv(dropout(elu(x)))``."""

    def __init__(self, channels: int, skip_channels: int | None, dropout: float):
        super().__init__()
        self.nin = nin(skip_channels, channels) if skip_channels else None
        self.conv = WNConv2d(2 * channels if skip_channels else channels, channels)
        self.dropout = dropout

    def forward(self, x: torch.Tensor, a: torch.Tensor | None = None) -> torch.Tensor:
        residual = x
        if self.nin is not None:
            if a is None:
                raise BenchError("this residual block takes a skip input")
            residual = torch.cat((x, self.nin(F.elu(a))), 1)
        residual = F.dropout(F.elu(residual), self.dropout, self.training)
        return x + self.conv(residual)


class Upsample(nn.Module):
    """Subpixel upsampling: conv3x3 to 4 * out channels, then ``depth_to_space``."""

    def __init__(self, in_ch: int, out_ch: int):
        super().__init__()
        self.conv = WNConv2d(in_ch, 4 * out_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return depth_to_space(self.conv(x))


# --------------------------------------------------------------------------------------
# The four sub-networks (models.py)


def scale_channels(n_filters: int, max_filters: int, n_scales: int) -> list[int]:
    """Channels per scale, finest first: ``n_filters``, then doubled up to ``max_filters``."""
    channels = [n_filters]
    for _ in range(n_scales - 1):
        channels.append(min(2 * channels[-1], max_filters))
    return channels


class UpPass(nn.Module):
    """``enc_up`` / ``dec_up``: nin stem, residual blocks per scale, stride-2 convs between.

    Returns every block's output, finest first (``n_blocks`` per scale).
    """

    def __init__(self, in_ch: int, channels: list[int], n_blocks: int, dropout: float):
        super().__init__()
        self.stem = nin(in_ch, channels[0])
        self.blocks = nn.ModuleList(
            nn.ModuleList(ResidualBlock(c, None, dropout) for _ in range(n_blocks)) for c in channels)
        self.downs = nn.ModuleList(WNConv2d(a, b, stride=2) for a, b in zip(channels, channels[1:]))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        hs, h = [], self.stem(x)
        for level, blocks in enumerate(self.blocks):
            for block in blocks:
                h = block(h)
                hs.append(h)
            if level < len(self.downs):
                h = self.downs[level](h)
        return hs


class ARPrior(nn.Module):
    """The coarsest-scale prior: four 2x2 pixel groups, each conditioned on the previous ones."""

    def __init__(self, channels: int, latent_channels: int, dropout: float):
        super().__init__()
        self.features = ResidualBlock(channels, None, dropout)
        self.params = nn.ModuleList(WNConv2d(4 * channels, channels) for _ in range(4))
        self.feedback = nn.ModuleList(ResidualBlock(4 * channels, latent_channels, dropout) for _ in range(3))

    def forward(self, h: torch.Tensor, z_given: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """Prior means and the prior sample (fed back groupwise unless ``z_given`` is)."""
        given = split_groups(z_given) if z_given is not None else None
        features = space_to_depth(self.features(h))
        means, samples = [], []
        for i in range(4):
            mean = self.params[i](features)
            sample = mean + torch.randn_like(mean)
            means.append(mean)
            samples.append(sample)
            if i < 3:
                features = self.feedback[i](features, given[i] if given is not None else sample)
        return merge_groups(means), merge_groups(samples)


class DecDown(nn.Module):
    """``dec_down``: the decoder, with a prior and the latent's entry on the coarsest scales."""

    def __init__(self, up_channels: list[int], spatial: list[int], latent_channels: list[int], n_latent: int,
                 dropout: float):
        super().__init__()
        channels = up_channels[::-1]  # coarsest first
        self.spatial = spatial[::-1]
        self.stem = nin(channels[0], channels[0])
        self.first = nn.ModuleList(ResidualBlock(c, c, dropout) for c in channels)
        self.priors = nn.ModuleList(
            ARPrior(c, latent_channels[i], dropout) if self.spatial[i] > 1 else WNConv2d(c, c)
            for i, c in enumerate(channels[:n_latent]))
        self.fuse = nn.ModuleList(nin(c + latent_channels[i], c) for i, c in enumerate(channels[:n_latent]))
        self.second = nn.ModuleList(ResidualBlock(c, c, dropout) for c in channels)
        self.ups = nn.ModuleList(Upsample(a, b) for a, b in zip(channels, channels[1:]))

    def forward(self, gs: list[torch.Tensor], zs: list[torch.Tensor] | None) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Decoder features at the finest scale and the prior means; ``zs`` None: sample the prior."""
        gs, prior_means = list(gs), []
        h = self.stem(gs[-1])
        for level in range(len(self.first)):
            h = self.first[level](h, gs.pop())
            if level < len(self.priors):
                z_given = zs[level] if zs is not None else None
                mean, sample = self._prior(level, h, z_given)
                prior_means.append(mean)
                z = z_given if z_given is not None else sample
                h = self.fuse[level](torch.cat((h, z), 1))
            h = self.second[level](h, gs.pop())
            if level < len(self.ups):
                h = self.ups[level](h)
        return h, prior_means

    def _prior(self, level: int, h: torch.Tensor, z_given: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        prior = self.priors[level]
        if isinstance(prior, ARPrior):
            return prior(h, z_given)
        mean = prior(h)  # a 1x1 scale: no spatial correlations to model
        return mean, mean + torch.randn_like(mean)


class EncDown(nn.Module):
    """``enc_down``: posterior means on the coarsest ``n_latent`` scales.

    ``tail_up`` / ``tail_block`` are the release's upsampling and residual block after
    the last latent, built (TF variables) but unused; they are never run.
    """

    def __init__(self, up_channels: list[int], n_latent: int, dropout: float):
        super().__init__()
        channels = up_channels[::-1]
        if len(channels) < n_latent:
            raise BenchError(f"the appearance encoder has {len(channels)} scales, fewer than {n_latent} latent scales")
        self.stem = nin(channels[0], channels[0])
        self.first = nn.ModuleList(ResidualBlock(c, c, dropout) for c in channels[:n_latent])
        self.posteriors = nn.ModuleList(WNConv2d(c, c) for c in channels[:n_latent])
        self.second = nn.ModuleList(ResidualBlock(c, 2 * c, dropout) for c in channels[:n_latent])
        self.ups = nn.ModuleList(Upsample(a, b) for a, b in zip(channels[:n_latent - 1], channels[1:n_latent]))
        self.tail_up = Upsample(channels[n_latent - 1], channels[n_latent]) if len(channels) > n_latent else None
        self.tail_block = ResidualBlock(channels[n_latent], channels[n_latent], dropout) if self.tail_up else None
        self.latent_channels = channels[:n_latent]

    def forward(self, hs: list[torch.Tensor], sample: bool) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Posterior means and the latents fed on (samples if ``sample``, else the means)."""
        hs, means, zs = list(hs), [], []
        h = self.stem(hs[-1])
        for level in range(len(self.first)):
            h = self.first[level](h, hs.pop())
            mean = self.posteriors[level](h)
            z = mean + torch.randn_like(mean) if sample else mean
            means.append(mean)
            zs.append(z)
            h = self.second[level](h, torch.cat((hs.pop(), z), 1))
            if level < len(self.ups):
                h = self.ups[level](h)
        return means, zs


class VUnetGenerator(nn.Module):
    """Shape U-Net (``dec_up``/``dec_down``) with appearance latents from ``enc_up``/``enc_down``."""

    def __init__(self, spatial_size: int = 128, box_factor: int = 1, bottleneck_factor: int = 1, n_filters: int = 32,
                 max_filters: int = 128, n_blocks: int = 2, n_latent: int = 2, dropout: float = 0.1):
        super().__init__()
        if n_blocks != 2:
            raise BenchError("VUnet's down passes place one residual block before and one after each latent: n_blocks must be 2")
        n_scales = 1 + int(round(math.log2(spatial_size))) - bottleneck_factor
        if spatial_size != 2 ** round(math.log2(spatial_size)) or n_scales - box_factor < n_latent:
            raise BenchError(f"spatial_size {spatial_size} must be a power of two with at least "
                             f"{n_latent + box_factor} scales")
        self.spatial_size, self.box_factor, self.n_scales = spatial_size, box_factor, n_scales
        self.crop_size = spatial_size // 2**box_factor
        dec_channels = scale_channels(n_filters, max_filters, n_scales)
        enc_channels = scale_channels(n_filters * 2**box_factor, max_filters, n_scales - box_factor)
        spatial = [spatial_size // 2**i for i in range(n_scales)]
        self.enc_up = UpPass(N_PARTS * IMAGE_CHANNELS, enc_channels, n_blocks, dropout)
        self.enc_down = EncDown(enc_channels, n_latent, dropout)
        self.dec_up = UpPass(IMAGE_CHANNELS, dec_channels, n_blocks, dropout)
        self.dec_down = DecDown(dec_channels, spatial, self.enc_down.latent_channels, n_latent, dropout)
        self.dec_params = WNConv2d(dec_channels[0], IMAGE_CHANNELS)

    def forward(self, crops: torch.Tensor | None, stickman: torch.Tensor, mode: str = "transfer"):
        """Image (B, 3, S, S), posterior means, prior means.

        ``train``: posterior samples of ``crops`` feed the decoder (``train_forward_pass``);
        ``transfer``: the posterior means do (``transfer_pass``); ``sample``: no encoder,
        the prior is sampled (``test_forward_pass``).
        """
        if mode not in GENERATOR_MODES:
            raise BenchError(f"unknown VUnet mode {mode!r}; choose one of {', '.join(GENERATOR_MODES)}")
        posterior, zs = [], None
        if mode != "sample":
            posterior, zs = self.enc_down(self.enc_up(crops), sample=mode == "train")
        h, prior = self.dec_down(self.dec_up(stickman), zs)
        return self.dec_params(h), posterior, prior


def latent_kl(posterior: list[torch.Tensor], prior: list[torch.Tensor]) -> torch.Tensor:
    """KL between unit-variance Gaussians, ``0.5 ||mu_q - mu_p||^2`` per sample, batch mean, summed over scales."""
    return sum(0.5 * (p - q).pow(2).flatten(1).sum(1).mean() for q, p in zip(posterior, prior))


def _set_data_init(module: nn.Module, on: bool) -> None:
    for layer in module.modules():
        if isinstance(layer, WNConv2d):
            layer.data_init = on


# --------------------------------------------------------------------------------------
# Loss (deeploss.py)


def caffe_input(images: torch.Tensor) -> torch.Tensor:
    """Keras VGG19 ``preprocess_input`` of [-1, 1] RGB: BGR in 0-255 minus the mean pixel."""
    bgr = (images.flip(1) + 1) / 2 * 255
    return bgr - torch.tensor(CAFFE_MEAN_BGR, device=images.device, dtype=images.dtype)[:, None, None]


def vunet_gram(features: torch.Tensor) -> torch.Tensor:
    """``deeploss.grams``: ``F^T F / (4 h w)`` (not divided by the channel count)."""
    b, c, h, w = features.shape
    flat = features.reshape(b, c, h * w)
    return flat @ flat.transpose(1, 2) / (4.0 * h * w)


# --------------------------------------------------------------------------------------
# The model


@dataclass
class VUnetConfig:
    width: float = 1.0  # multiplies n_filters and max_filters; < 1 only for small CPU test models
    spatial_size: int = 128
    box_factor: int = 1
    bottleneck_factor: int = 1
    n_filters: int = 32
    max_filters: int = 128
    n_residual_blocks: int = 2
    n_latent_scales: int = 2
    dropout: float = 0.1
    canvas_mode: str = "stretch"
    appearance: str = "target"  # whose crops the encoder sees in training (the original: the target itself)
    likelihood_weight: float = 5.0
    feature_weights: tuple[float, ...] = (1.0,) * 6  # input, relu1_2, relu2_2, relu3_2, relu4_2, relu5_2
    gram_weights: tuple[float, ...] = (0.0,) * 6
    perceptual: bool = True  # False: the input term only (no VGG19 weights needed)
    weights_dir: str | None = None  # folder with vgg19-dcbb9e9d.pth (else $BENCH_WEIGHTS_DIR / torch hub cache)
    kl_start: int = 50_000  # kl_weight ramp: lr_decay_end // 2 ...
    kl_end: int = 75_000  # ... to 3 * lr_decay_end // 4
    kl_min: float = 1e-6
    kl_max: float = 1.0


VUNET_DATASETS: dict[str, dict[str, Any]] = {
    "market": dict(spatial_size=128, box_factor=1, bottleneck_factor=1, canvas_mode="stretch"),
    "deepfashion": dict(spatial_size=256, box_factor=2, bottleneck_factor=2, canvas_mode="pad"),
}
TRAINING = {
    "market": "Adam 1e-3, betas (0.5, 0.9), batch 16, lr constant 1k steps then linear to 0 at 100k",
    "deepfashion": "Adam 1e-3, betas (0.5, 0.9), batch 8, lr constant 1k steps then linear to 0 at 100k",
}
#: Generators built with other settings, for the 139.36 M question (see the module docstring).
VARIANT_COUNTS = {
    "market": 47_419_270,
    "deepfashion": 47_272_966,
    "market, box_factor 0 (128x128 crops)": 47_455_558,
    "market, max_filters 256": 181_491_078,
}
#: Parameters of the never-run ``enc_down`` tail (both configurations).
UNUSED_TAIL = 902_656


def vunet_config(dataset: str, overrides: dict[str, Any]) -> VUnetConfig:
    cfg = build_config(VUnetConfig, dataset, VUNET_DATASETS, overrides)
    cfg.feature_weights, cfg.gram_weights = tuple(cfg.feature_weights), tuple(cfg.gram_weights)
    checks = [
        (cfg.canvas_mode in CANVAS_MODES, f"canvas_mode must be one of {', '.join(CANVAS_MODES)}"),
        (cfg.appearance in APPEARANCE_SOURCES, f"appearance must be one of {', '.join(APPEARANCE_SOURCES)}"),
        (len(cfg.feature_weights) == 6 and len(cfg.gram_weights) == 6,
         "feature_weights and gram_weights need 6 values (input, relu1_2 ... relu5_2)"),
        (cfg.kl_end > cfg.kl_start, "kl_end must be after kl_start"),
    ]
    for ok, message in checks:
        if not ok:
            raise BenchError(f"VUnetConfig: {message}")
    return cfg


def vunet_generator(cfg: VUnetConfig) -> VUnetGenerator:
    return VUnetGenerator(cfg.spatial_size, cfg.box_factor, cfg.bottleneck_factor, scaled(cfg.n_filters, cfg.width),
                          scaled(cfg.max_filters, cfg.width), cfg.n_residual_blocks, cfg.n_latent_scales, cfg.dropout)


class VUnetModel(PoseTransferModel):
    """VUnet for the harness: canvas, stickman and crops from keypoints, no discriminator."""

    name = "vunet"
    #: The enc_down tail is never run (see :class:`EncDown`).
    ddp_find_unused_parameters = True

    def __init__(self, config: VUnetConfig, dataset: str):
        super().__init__()
        self.config = config
        self.dataset = dataset
        self.generator = vunet_generator(config)
        # Generator steps so far (kl_weight ramp) and whether the data-dependent init ran.
        self.register_buffer("steps", torch.zeros((), dtype=torch.long))
        self.register_buffer("initialised", torch.zeros((), dtype=torch.bool))
        self._last: dict[str, Any] | None = None

    @property
    def net(self) -> VUnetGenerator:
        """The generator itself, also while the trainer has it wrapped in DDP."""
        return getattr(self.generator, "module", self.generator)

    # -- canvas -----------------------------------------------------------------------

    def canvas_images(self, images: torch.Tensor) -> torch.Tensor:
        """Frame images (B, 3, H, W) on the square canvas."""
        size, (height, width) = self.config.spatial_size, images.shape[-2:]
        if self.config.canvas_mode == "stretch":
            if (height, width) == (size, size):
                return images
            return F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False)
        left, right = self._pads(height, width)
        return F.pad(images, (left, right, 0, 0), mode="replicate") if left or right else images

    def canvas_points(self, keypoints: torch.Tensor, height: int, width: int) -> torch.Tensor:
        """(x, y) canvas points from (B, 18, 2) (y, x) frame keypoints; -1 where unknown."""
        size = self.config.spatial_size
        kp = torch.as_tensor(keypoints).to(torch.float64)
        known = (kp >= 0).all(-1, keepdim=True)
        xy = kp.flip(-1)
        if self.config.canvas_mode == "stretch":
            xy = xy * torch.tensor([size / width, size / height], dtype=xy.dtype, device=xy.device)
        else:
            xy = xy + torch.tensor([float(self._pads(height, width)[0]), 0.0], dtype=xy.dtype, device=xy.device)
        return torch.where(known, xy, torch.full_like(xy, -1.0))

    def to_frame(self, images: torch.Tensor, height: int, width: int) -> torch.Tensor:
        if self.config.canvas_mode == "stretch":
            if images.shape[-2:] == (height, width):
                return images
            return F.interpolate(images, size=(height, width), mode="bilinear", align_corners=False, antialias=True)
        left, _ = self._pads(height, width)
        return images[..., left:left + width]

    def _pads(self, height: int, width: int) -> tuple[int, int]:
        size = self.config.spatial_size
        if height != size or width > size:
            raise BenchError(f"{self.name}: {height}x{width} images do not fit the {size}x{size} canvas by padding "
                             "the width (use canvas_mode=stretch)")
        return (size - width) // 2, size - width - (size - width) // 2

    # -- generation -------------------------------------------------------------------

    def inputs(self, batch: Batch, appearance: str) -> tuple[torch.Tensor, torch.Tensor]:
        """Body-part crops of ``batch[appearance]`` and the target's stickman in [-1, 1]."""
        for key in (appearance, f"{appearance}_keypoints", "target", "target_keypoints"):
            if key not in batch:
                raise BenchError(f"{self.name} needs batch[{key!r}] (it draws its inputs from keypoints)")
        image = batch[appearance]
        if image.dim() != 4:
            raise BenchError(f"{self.name} takes one source image per pair; got {appearance} of shape {tuple(image.shape)}")
        height, width = image.shape[-2:]
        points = self.canvas_points(batch[f"{appearance}_keypoints"], height, width).to(image.device)
        crops = part_crops(self.canvas_images(image), points, self.net.crop_size)
        target_points = self.canvas_points(batch["target_keypoints"], height, width).to(image.device)
        sticks = stickman(target_points, self.config.spatial_size).to(image.dtype) / 127.5 - 1
        return crops, sticks

    def forward(self, batch: Batch) -> torch.Tensor:
        height, width = batch["target"].shape[-2:]
        if self.training:
            crops, sticks = self.inputs(batch, self.config.appearance)
            if not bool(self.initialised):
                self.data_init(crops, sticks)
            out, posterior, prior = self.generator(crops, sticks, mode="train")
            self._last = {"target": batch["target"], "posterior": posterior, "prior": prior}
            return self.to_frame(out, height, width)
        crops, sticks = self.inputs(batch, "source")
        out, _, _ = self.generator(crops, sticks, mode="transfer")
        return self.to_frame(out, height, width).clamp(-1, 1)

    @torch.no_grad()
    def data_init(self, crops: torch.Tensor, sticks: torch.Tensor) -> None:
        """Data-dependent init of every ``g, b`` from one training forward (``init_graph``)."""
        generator = self.net
        _set_data_init(generator, True)
        try:
            generator(crops, sticks, mode="train")
        finally:
            _set_data_init(generator, False)
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            for p in generator.parameters():  # every rank starts from rank 0's statistics
                torch.distributed.broadcast(p.data, 0)
        self.initialised.fill_(True)

    # -- losses -----------------------------------------------------------------------

    def kl_weight(self, step: int | None = None) -> float:
        """``nn.make_linear_var`` from (kl_start, kl_min) to (kl_end, kl_max), clipped."""
        cfg = self.config
        step = int(self.steps) if step is None else step
        value = (cfg.kl_max - cfg.kl_min) / (cfg.kl_end - cfg.kl_start) * (step - cfg.kl_start) + cfg.kl_min
        return min(max(value, cfg.kl_min), cfg.kl_max)

    def prepare_losses(self) -> None:
        """Load VGG19 now (raises ``WeightsMissing`` without its weights)."""
        if self.config.perceptual and "vgg" not in self.loss_modules:
            from bench.train.losses import VGG19Features

            self.loss_modules["vgg"] = VGG19Features(VGG_LAYERS, weights_dir=self.config.weights_dir)

    def likelihood_terms(self, fake: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
        """``likelihood_weight`` x (feature L1 + Gram L1) of ``deeploss.make_loss_op``, split by kind."""
        cfg = self.config
        fakes, targets = [caffe_input(fake)], [caffe_input(target).detach()]
        if cfg.perceptual:
            self.prepare_losses()
            vgg = self.loss_modules["vgg"].to(fake.device)
            with torch.no_grad():
                wanted = vgg(target)
            got = vgg(fake)
            fakes += [got[name] for name in VGG_LAYERS]
            targets += [wanted[name] for name in VGG_LAYERS]
        l1 = [(f - t).abs().mean() for f, t in zip(fakes, targets)]
        terms = {"pixel": cfg.likelihood_weight * cfg.feature_weights[0] * l1[0]}
        if cfg.perceptual:
            terms["vgg"] = cfg.likelihood_weight * sum(w * v for w, v in zip(cfg.feature_weights[1:], l1[1:]))
        if any(cfg.gram_weights[:len(fakes)]):
            grams = [(vunet_gram(f) - vunet_gram(t)).abs().mean() for f, t in zip(fakes, targets)]
            terms["gram"] = cfg.likelihood_weight * sum(w * g for w, g in zip(cfg.gram_weights, grams))
        return terms

    def generator_losses(self, batch: Batch, fake: torch.Tensor) -> dict[str, torch.Tensor]:
        last = self._last
        if last is None or last["target"] is not batch["target"]:
            raise BenchError(f"{self.name}: generator_losses needs the training forward of the same batch (its latents)")
        losses = self.likelihood_terms(fake, batch["target"])
        losses["kl"] = self.kl_weight() * latent_kl(last["posterior"], last["prior"])
        self._last = None
        if self.training:
            self.steps += 1
        return losses

    def metadata(self) -> dict[str, Any]:
        cfg = self.config
        terms = ["pixel"] + (["vgg"] if cfg.perceptual else []) + (["gram"] if any(cfg.gram_weights) else []) + ["kl"]
        return {
            "model": self.name,
            "dataset": self.dataset,
            "config": dataclasses.asdict(cfg),
            "generator_loss_terms": terms,
            "perceptual": ("VGG19 (torchvision) " + ", ".join(VGG_LAYERS)) if cfg.perceptual
            else "off (config perceptual=False): input term only, 5 x 127.5 x L1",
            "kl_weight_now": self.kl_weight(),
            "generator_steps": int(self.steps),
            "data_dependent_init_done": bool(self.initialised),
            "pose_input": "3-channel stickman (right limbs, left limbs, torso) drawn from keypoints",
            "appearance_input": f"8 body-part crops of the {cfg.appearance} in training, of the source at test time",
            "test_latent": "posterior means of the source (transfer_pass, use_mean=True)",
            "canvas": [cfg.spatial_size, cfg.spatial_size],
            "resolution_policy": {"stretch": "bilinear resize to the square canvas and back (the original's Market loader)",
                                  "pad": "replicate-pad the width to the square canvas, crop back"}[cfg.canvas_mode],
            "discriminators": {},
            "training_in_original": TRAINING[self.dataset],
        }


def _generator_only(dataset: str = "market", **config: Any) -> VUnetGenerator:
    return vunet_generator(vunet_config(dataset, config))


@MODELS.register(
    "vunet",
    ModelCard(
        paper="Esser et al., CVPR 2018",
        title="A Variational U-Net for Conditional Appearance and Shape Generation",
        year=2018,
        code="https://github.com/CompVis/vunet",
        param_counts={"market": 47_419_270, "deepfashion": 47_272_966},
        published_params="139.36M (unresolved: see baselines.vunet)",
        generator_builder=_generator_only,
    ),
)
def build_vunet(dataset: str = "market", **config: Any) -> VUnetModel:
    return VUnetModel(vunet_config(dataset, config), dataset)
