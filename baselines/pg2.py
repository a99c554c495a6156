"""PG2: Pose Guided Person Image Generation (Ma et al., NIPS 2017).

Architecture and training objective from the authors' TensorFlow code,
charliememory/Pose-Guided-Person-Image-Generation (``models.py``, ``models256.py``,
``trainer.py``, ``trainer256.py``, ``wgan_gp_128x64.py``, ``config.py``,
``run_*_train.sh``, ``datasets/convert_*.py``; models.md section 5).

Inputs. G1 sees concat(source image, target pose) = 21 channels. The pose is 18
**binary disks of radius 4** (``i^2 + j^2 <= 16`` around ``int(y), int(x)``; the
original's ``_getSparsePose``), rescaled to {-1, 1} (``poses*2-1``: a missing
keypoint gives an all -1 channel). The source pose is never used.

Notes on the original code, what differs and the open gaps: docs/models/pg2.md.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage
from torch import nn

from baselines.layers.blocks import DATA_SIZES, build_config, canvas_pads, scaled
from bench.cards import ModelCard
from bench.data.keypoints import MASK_LIMBS, MISSING, NUM_KEYPOINTS
from bench.errors import BenchError
from bench.models.base import Batch, PoseTransferModel
from bench.registry import MODELS

IMAGE_CHANNELS = 3
POINT_RADIUS = 4
CLOSING_SIZE = 5
D_IMAGES = ("target", "source", "g1", "g2")
D_TERMS = ("D/real", "D/fake", "D/source")
PAD_MODES = ("replicate", "white")


# --------------------------------------------------------------------------------------
# Pose input and pose mask


def _pixels(keypoints: torch.Tensor | np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Integer pixel coordinates (the original's ``int(r)``, ``int(c)``) and the present flags."""
    kp = torch.as_tensor(np.asarray(keypoints) if not torch.is_tensor(keypoints) else keypoints)
    if kp.shape[-2:] != (NUM_KEYPOINTS, 2):
        raise ValueError(f"keypoints must have shape (..., {NUM_KEYPOINTS}, 2), got {tuple(kp.shape)}")
    kp = kp.to(torch.float64)
    present = (kp != MISSING).all(-1)
    return torch.trunc(kp), present


def disk_pose(keypoints: torch.Tensor | np.ndarray, size: tuple[int, int], radius: int = POINT_RADIUS,
              dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Binary disk maps ``(..., 18, H, W)`` in {0, 1} of keypoints ``(..., 18, 2)`` (y, x), -1 missing."""
    kp, present = _pixels(keypoints)
    height, width = size
    ys = torch.arange(height, dtype=torch.float64, device=kp.device)
    xs = torch.arange(width, dtype=torch.float64, device=kp.device)
    dy2 = (ys - kp[..., 0:1]) ** 2  # (..., 18, H)
    dx2 = (xs - kp[..., 1:2]) ** 2  # (..., 18, W)
    inside = dy2.unsqueeze(-1) + dx2.unsqueeze(-2) <= radius**2
    return (inside & present[..., None, None]).to(dtype)


def limb_centres(keypoints: np.ndarray, radius: int = POINT_RADIUS) -> list[tuple[int, int]]:
    """Disk centres of ``_getPoseMask`` for one pose (18, 2) of integer (y, x), -1 missing."""
    kp = [(int(y), int(x)) for y, x in np.asarray(keypoints)]
    present = [y != MISSING and x != MISSING for y, x in kp]
    centres = []
    for a, b in MASK_LIMBS:
        if not (present[a] and present[b]):
            continue
        (r0, c0), (r1, c1) = kp[a], kp[b]
        centres += [(r0, c0), (r1, c1)]
        samples = int(np.sqrt((r0 - r1) ** 2 + (c0 - c1) ** 2) / radius)
        # True division then int(): the conversion scripts import division from __future__.
        centres += [(int(r0 + (r1 - r0) * i / samples), int(c0 + (c1 - c0) * i / samples)) for i in range(1, samples)]
    return centres


def _disk_footprint(radius: int) -> np.ndarray:
    offsets = np.arange(-radius, radius + 1)
    return offsets[:, None] ** 2 + offsets[None, :] ** 2 <= radius**2


def pose_masks(keypoints: torch.Tensor | np.ndarray, size: tuple[int, int], radius: int = POINT_RADIUS) -> np.ndarray:
    """PG2's training masks ``(N, H, W)`` bool of poses ``(N, 18, 2)`` (y, x), -1 missing."""
    kp, present = _pixels(keypoints)
    kp = torch.where(present.unsqueeze(-1), kp, torch.full_like(kp, MISSING)).cpu().numpy().astype(np.int64)
    if kp.ndim != 3:
        raise ValueError(f"pose_masks takes a batch of poses (N, {NUM_KEYPOINTS}, 2), got {kp.shape}")
    height, width = size
    # Centres up to ``radius`` outside the image still paint inside it: draw on a margin.
    points = np.zeros((len(kp), height + 2 * radius, width + 2 * radius), dtype=bool)
    for n, pose in enumerate(kp):
        for y, x in limb_centres(pose, radius):
            if -radius <= y < height + radius and -radius <= x < width + radius:
                points[n, y + radius, x + radius] = True
    painted = ndimage.binary_dilation(points, structure=_disk_footprint(radius)[None])
    painted = painted[:, radius:radius + height, radius:radius + width].astype(np.uint8)
    window = (1, CLOSING_SIZE, CLOSING_SIZE)
    closed = ndimage.grey_erosion(ndimage.grey_dilation(painted, size=window, mode="reflect"), size=window, mode="reflect")
    return closed.astype(bool)


# --------------------------------------------------------------------------------------
# Layers


def _same_pads(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow's SAME padding (before, after) along one axis."""
    total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class SameConv2d(nn.Conv2d):
    """``Conv2d`` padded as TensorFlow's ``padding='SAME'`` (odd extra pixel at the bottom/right)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1):
        super().__init__(in_channels, out_channels, kernel_size, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        top, bottom = _same_pads(x.shape[-2], self.kernel_size[0], self.stride[0])
        left, right = _same_pads(x.shape[-1], self.kernel_size[1], self.stride[1])
        if top == bottom and left == right:
            return F.conv2d(x, self.weight, self.bias, self.stride, (top, left))
        return F.conv2d(F.pad(x, (left, right, top, bottom)), self.weight, self.bias, self.stride)


def conv_relu(in_ch: int, out_ch: int, kernel: int = 3, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(SameConv2d(in_ch, out_ch, kernel, stride), nn.ReLU())


def double_conv(in_ch: int, out_ch: int) -> nn.Sequential:
    return nn.Sequential(conv_relu(in_ch, out_ch), conv_relu(out_ch, out_ch))


def upsample(x: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, scale_factor=2, mode="nearest")  # tf.image.resize_nearest_neighbor x2


def slim_init(module: nn.Module) -> None:
    """tf.contrib.slim defaults: Glorot-uniform weights, zero biases."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(m.weight)
            nn.init.zeros_(m.bias)


def residual_encoder(in_channels: int, hidden: int, levels: int) -> tuple[nn.Module, nn.ModuleList, nn.ModuleList]:
    """G1's encoder layers: conv3x3 to n, residual levels at n(i+1), stride-2 convs between them."""
    conv_in = conv_relu(in_channels, hidden)
    blocks = nn.ModuleList(double_conv(hidden * (i + 1), hidden * (i + 1)) for i in range(levels))
    down = nn.ModuleList(conv_relu(hidden * (i + 1), hidden * (i + 2), stride=2) for i in range(levels - 1))
    return conv_in, blocks, down


def residual_encode(x: torch.Tensor, conv_in: nn.Module, blocks: nn.ModuleList,
                    down: nn.ModuleList) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """The deepest map and every level's feature (finest first) of ``residual_encoder``'s layers."""
    x = conv_in(x)
    features = []
    for i, block in enumerate(blocks):
        x = x + block(x)
        features.append(x)
        if i < len(down):
            x = down[i](x)
    return x, features


def residual_decoder(hidden: int, levels: int) -> tuple[nn.ModuleList, nn.ModuleList, nn.Module]:
    """G1's decoder layers: per level a residual pair on concat(x, skip), then a 1x1 reduction; output conv."""
    decoder, reduce = [], []
    x_ch = hidden
    for i in range(levels):
        width = x_ch + hidden * (levels - i)  # after concatenating encoder level L-1-i
        decoder.append(double_conv(width, width))
        if i < levels - 1:
            x_ch = hidden * (levels - i - 1)
            reduce.append(conv_relu(width, x_ch, kernel=1))
    return nn.ModuleList(decoder), nn.ModuleList(reduce), SameConv2d(width, IMAGE_CHANNELS, 3)


def residual_decode(x: torch.Tensor, skips: list[torch.Tensor], decoder: nn.ModuleList, reduce: nn.ModuleList,
                    conv_out: nn.Module) -> torch.Tensor:
    """``residual_decoder``'s layers on the bottleneck map ``x`` with skips finest first."""
    last = len(decoder) - 1
    for i, block in enumerate(decoder):
        x = torch.cat((x, skips[last - i]), 1)
        x = x + block(x)
        if i < last:
            x = reduce[i](upsample(x))
    return conv_out(x)


class ResidualUNet(nn.Module):
    """G1: residual U-Net with a fully-connected bottleneck."""

    def __init__(self, in_channels: int, hidden: int, levels: int, bottleneck: tuple[int, int], z_num: int):
        super().__init__()
        self.levels = levels
        self.bottleneck = bottleneck
        self.conv_in, self.encoder, self.down = residual_encoder(in_channels, hidden, levels)
        h, w = bottleneck
        self.fc_in = nn.Linear(h * w * hidden * levels, z_num)
        self.fc_out = nn.Linear(z_num, h * w * hidden)
        self.decoder, self.reduce, self.conv_out = residual_decoder(hidden, levels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, skips = residual_encode(x, self.conv_in, self.encoder, self.down)
        if tuple(x.shape[-2:]) != self.bottleneck:
            raise BenchError(f"PG2 G1 was built for a {self.bottleneck} bottleneck, the input gives {tuple(x.shape[-2:])}")
        z = self.fc_in(x.permute(0, 2, 3, 1).flatten(1))  # TF flattens NHWC
        h, w = self.bottleneck
        x = self.fc_out(z).view(len(z), h, w, -1).permute(0, 3, 1, 2)
        return residual_decode(x, skips, self.decoder, self.reduce, self.conv_out)


class DiffMapUNet(nn.Module):
    """G2: fully-convolutional U-Net predicting the difference map added to G1's image."""

    def __init__(self, in_channels: int, hidden: int, levels: int, top_skip: bool):
        super().__init__()
        self.levels = levels
        self.skip_levels = tuple(i for i in range(levels) if top_skip or i > 0)
        self.conv_in = conv_relu(in_channels, hidden)
        self.encoder = nn.ModuleList(double_conv(hidden * max(i, 1), hidden * (i + 1)) for i in range(levels))
        self.down = nn.ModuleList(conv_relu(hidden * (i + 1), hidden * (i + 1), stride=2) for i in range(levels - 1))
        decoder = []
        x_ch = hidden * levels
        for i in range(levels):
            level = levels - 1 - i
            skip_ch = hidden * (level + 1) if level in self.skip_levels else 0
            decoder.append(double_conv(x_ch + skip_ch, hidden))
            x_ch = hidden
        self.decoder = nn.ModuleList(decoder)
        self.conv_out = SameConv2d(hidden, IMAGE_CHANNELS, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv_in(x)
        skips = {}
        for i, block in enumerate(self.encoder):
            x = block(x)
            if i in self.skip_levels:
                skips[i] = x
            if i < self.levels - 1:
                x = self.down[i](x)
        for i, block in enumerate(self.decoder):
            level = self.levels - 1 - i
            if level in skips:
                x = torch.cat((x, skips[level]), 1)
            x = block(x)
            if i < self.levels - 1:
                x = upsample(x)
        return self.conv_out(x)


class PG2Generator(nn.Module):
    """G1 then (``refine=True``) G2 with G1 frozen; returns (G1 image, refined image or None)."""

    def __init__(self, g1: ResidualUNet, g2: DiffMapUNet):
        super().__init__()
        self.g1 = g1
        self.g2 = g2

    def forward(self, source: torch.Tensor, pose: torch.Tensor, refine: bool = True):
        if not refine:
            return self.g1(torch.cat((source, pose), 1)), None
        with torch.no_grad():  # only G2's variables are optimised in stage 2
            coarse = self.g1(torch.cat((source, pose), 1))
        return coarse, coarse + self.g2(torch.cat((coarse, source), 1))


class DCGANDiscriminator(nn.Module):
    """tflib DCGAN discriminator: 5x5 stride-2 convs down to 8 rows, BN from the 2nd conv, FC to a logit."""

    def __init__(self, ndf: int, image_size: tuple[int, int]):
        super().__init__()
        n_down = int(math.log2(image_size[0])) - 3  # 4 at 128x64, 5 at 256x256
        channels = [ndf * min(2**i, 8) for i in range(n_down)]
        layers: list[nn.Module] = [SameConv2d(IMAGE_CHANNELS, channels[0], 5, 2), nn.LeakyReLU(0.2)]
        for in_ch, out_ch in zip(channels, channels[1:]):
            layers += [SameConv2d(in_ch, out_ch, 5, 2), nn.BatchNorm2d(out_ch), nn.LeakyReLU(0.2)]
        self.features = nn.Sequential(*layers)
        h, w = (math.ceil(s / 2**n_down) for s in image_size)
        self.output = nn.Linear(channels[-1] * h * w, 1)  # tflib flattens NCHW
        self._tflib_init()

    def _tflib_init(self) -> None:
        bound = 0.02 * math.sqrt(3)  # set_weights_stdev(0.02): uniform with that std
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.uniform_(m.weight, -bound, bound)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.output(self.features(x).flatten(1))


# --------------------------------------------------------------------------------------
# The trainable model


@dataclass
class PG2Config:
    width: float = 1.0  # multiplies hidden and ndf; < 1 only for small CPU test models
    hidden: int = 128  # conv_hidden_num, "n" in the paper
    z_num: int = 64
    ndf: int = 64  # the DCGAN discriminator's DIM
    levels: int | None = None  # G1 levels; None: log2(canvas height) - 2 (G2 has two fewer)
    g2_top_skip: bool = False  # False: UAE_noFC_After2Noise (128x64); True: UAE_noFC_AfterNoise (256)
    canvas: tuple[int, int] | None = None  # network input size; None: the data's size
    pad_mode: str = "replicate"  # how narrower images are widened to the canvas: "replicate" or "white"
    point_radius: int = POINT_RADIUS
    stage: int = 0  # 0: the original schedule (G1 for g1_steps, then G2 + D); 1 or 2: pinned
    g1_steps: int = 22_000
    lambda_gan: float = 1.0
    lambda_l1: float = 10.0  # weight of (L1 + pose-mask L1) in stage 2
    d_images: tuple[str, ...] = ("target", "source", "g1", "g2")  # one D batch, in this order
    g_adversarial: tuple[str, ...] = ("g2",)  # D outputs the generator labels real


PG2_DATASETS: dict[str, dict[str, Any]] = {
    "market": dict(lambda_l1=10.0, g2_top_skip=False, d_images=("target", "source", "g1", "g2"), g_adversarial=("g2",)),
    "deepfashion": dict(lambda_l1=50.0, g2_top_skip=True, canvas=(256, 256),
                        d_images=("target", "g2", "source"), g_adversarial=("g2", "source")),
}
TRAINING = {
    "market": dict(batch_size=16, iterations=60_000, g1_steps=22_000, lr_g=2e-5, lr_d=2e-5, betas=(0.5, 0.999),
                   lr_schedule="constant", d_steps=1),
    "deepfashion": dict(batch_size=1, iterations=80_000, g1_steps=22_000, lr_g=2e-5, lr_d=2e-5, betas=(0.5, 0.999),
                        lr_schedule="constant", d_steps=1),
}


def check_config(cfg: Any, schedule: str = "the original schedule") -> None:
    """The checks of every PG2-style staged config (PG2, VDG): padding, stage, D's batch layout."""
    if cfg.pad_mode not in PAD_MODES:
        raise BenchError(f"unknown pad_mode {cfg.pad_mode!r}; choose one of {', '.join(PAD_MODES)}")
    if cfg.stage not in (0, 1, 2):
        raise BenchError(f"stage must be 0 ({schedule}), 1 or 2, got {cfg.stage!r}")
    unknown = sorted(set(cfg.d_images) - set(D_IMAGES))
    if unknown or not {"target", "source", "g2"} <= set(cfg.d_images):
        raise BenchError(f"d_images {list(cfg.d_images)} must name target, source and g2 (and optionally g1) only")
    if not cfg.g_adversarial or not set(cfg.g_adversarial) <= set(cfg.d_images) - {"target"}:
        raise BenchError(f"g_adversarial {list(cfg.g_adversarial)} must be fakes listed in d_images")


def canvas_size(cfg: Any, dataset: str) -> tuple[int, int]:
    return tuple(cfg.canvas) if cfg.canvas else DATA_SIZES[dataset]


def g1_geometry(cfg: Any, canvas: tuple[int, int], model: str = "PG2",
                stages: tuple[str, str] = ("G1", "G2")) -> tuple[int, tuple[int, int]]:
    """G1's level count (``cfg.levels`` or log2(H) - 2) and its bottleneck size on ``canvas``."""
    height, width = canvas
    levels = cfg.levels if cfg.levels is not None else int(math.log2(height)) - 2
    if levels < 3:
        raise BenchError(f"{model} needs at least 3 {stages[0]} levels ({stages[1]} has two fewer), got {levels}")
    factor = 2 ** (levels - 1)
    if height % factor or width % factor:
        raise BenchError(f"{model} with {levels} levels needs sides divisible by {factor}, got {height}x{width} "
                         "(set canvas to pad the images)")
    return levels, (height // factor, width // factor)


def build_generator(cfg: PG2Config, canvas: tuple[int, int]) -> PG2Generator:
    levels, bottleneck = g1_geometry(cfg, canvas)
    hidden = scaled(cfg.hidden, cfg.width)
    g1 = ResidualUNet(IMAGE_CHANNELS + NUM_KEYPOINTS, hidden, levels, bottleneck, cfg.z_num)
    g2 = DiffMapUNet(2 * IMAGE_CHANNELS, hidden, levels - 2, cfg.g2_top_skip)
    generator = PG2Generator(g1, g2)
    slim_init(generator)
    return generator


class PG2Model(PoseTransferModel):
    """PG2's two-stage model; VDG (:mod:`baselines.vdg`) subclasses it with its own generator and stage-1 loss."""

    name = "pg2"
    #: G1 or G2 sits out each stage: under DDP the generator needs find_unused_parameters=True.
    ddp_find_unused_parameters = True
    #: The generator's loss terms of each stage; every step reports all of them (the other stage's as 0).
    stage_one_terms: tuple[str, ...] = ("g1_l1", "g1_mask_l1")
    stage_two_terms: tuple[str, ...] = ("gan", "l1", "mask_l1")

    def __init__(self, config: Any, dataset: str):
        super().__init__()
        self.check_config(config)
        from bench.train.losses import GANLoss

        self.config = config
        self.dataset = dataset
        self.canvas = canvas_size(config, dataset)
        self.generator = self.build_generator(config)
        self.discriminators = nn.ModuleDict({"D": DCGANDiscriminator(scaled(config.ndf, config.width), self.canvas)})
        self.gan_loss = GANLoss("vanilla", with_logits=True)
        # Generator updates done so far: decides the stage under the original schedule.
        self.register_buffer("steps", torch.zeros((), dtype=torch.long))
        self._last: dict[str, Any] | None = None

    @staticmethod
    def check_config(config: Any) -> None:
        check_config(config)

    def build_generator(self, config: Any) -> nn.Module:
        return build_generator(config, self.canvas)

    def current_stage(self) -> int:
        if self.config.stage:
            return self.config.stage
        return 1 if int(self.steps) < self.config.g1_steps else 2

    # -- canvas -----------------------------------------------------------------------

    def _pads(self, image: torch.Tensor) -> tuple[int, int]:
        return canvas_pads(self.name, image, self.canvas)

    def _widen(self, image: torch.Tensor, pads: tuple[int, int]) -> torch.Tensor:
        if not any(pads):
            return image
        if self.config.pad_mode == "white":
            return F.pad(image, (*pads, 0, 0), value=1.0)
        return F.pad(image, (*pads, 0, 0), mode="replicate")

    def _keypoints(self, batch: Batch, key: str, left: int) -> torch.Tensor:
        """``batch[key]`` shifted onto the canvas (missing points stay missing)."""
        if key not in batch:
            raise BenchError(f"{self.name} draws its pose disks from keypoints: the batch has no {key!r}")
        kp = torch.as_tensor(batch[key]).to(torch.float64)
        present = (kp != MISSING).all(-1, keepdim=True)
        return torch.where(present, kp + torch.tensor([0.0, float(left)], dtype=kp.dtype, device=kp.device), kp)

    def _disks(self, batch: Batch, key: str, left: int, like: torch.Tensor) -> torch.Tensor:
        keypoints = self._keypoints(batch, key, left).to(like.device)
        return disk_pose(keypoints, self.canvas, self.config.point_radius, like.dtype) * 2 - 1

    # -- generation -------------------------------------------------------------------

    def _poses(self, batch: Batch, left: int, like: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        """The pose inputs the generator takes after the source image: PG2's G1 sees the target's disks."""
        return (self._disks(batch, "target_keypoints", left, like),)

    def _generate(self, batch: Batch, refine: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
        """G1's image and (``refine``) G2's, on the data frame."""
        source = batch["source"]
        if source.dim() != 4:
            raise BenchError(f"{self.name} takes one source image per pair; got a source tensor of shape {tuple(source.shape)}")
        pads = self._pads(source)
        poses = self._poses(batch, pads[0], source)
        coarse, refined = self.generator(self._widen(source, pads), *poses, refine=refine)
        crop = slice(pads[0], self.canvas[1] - pads[1])
        return coarse[..., crop], (refined[..., crop] if refined is not None else None)

    def forward(self, batch: Batch) -> torch.Tensor:
        stage = self.current_stage()
        coarse, refined = self._generate(batch, refine=stage == 2)
        out = refined if stage == 2 else coarse
        # The losses of this step need its stage and G1's image (D's batch at 128x64).
        self._last = {"source": batch["source"], "stage": stage, "g1": coarse.detach()}
        return out if self.training else out.clamp(-1, 1)

    def _from_last(self, batch: Batch) -> dict[str, Any]:
        """What ``forward`` recorded for this batch; recomputed when the losses get a fake of their own."""
        if self._last is not None and self._last["source"] is batch["source"]:
            return self._last
        stage, g1 = self.current_stage(), None
        if stage == 2 and "g1" in self.config.d_images:
            with torch.no_grad():
                g1 = self._generate(batch, refine=False)[0]
        return {"source": batch["source"], "stage": stage, "g1": g1}

    # -- losses -----------------------------------------------------------------------

    def target_mask(self, batch: Batch) -> torch.Tensor:
        """(B, 1, H, W) float pose mask of the target, drawn on the canvas and cropped to the frame."""
        target = batch["target"]
        left, right = self._pads(target)
        masks = pose_masks(self._keypoints(batch, "target_keypoints", left), self.canvas, self.config.point_radius)
        masks = masks[..., left:self.canvas[1] - right]
        return torch.from_numpy(masks).to(target.device, target.dtype).unsqueeze(1)

    def _judge(self, batch: Batch, fake: torch.Tensor, g1: torch.Tensor | None) -> dict[str, torch.Tensor]:
        """D's logits for every image of ``d_images``, computed as one batch."""
        images = {"target": batch["target"], "source": batch["source"], "g1": g1, "g2": fake}
        pads = self._pads(fake)
        stacked = torch.cat([self._widen(images[name], pads) for name in self.config.d_images], 0)
        logits = self.discriminators["D"](stacked).split(len(fake))
        return dict(zip(self.config.d_images, logits))

    def _stage_one_losses(self, batch: Batch, fake: torch.Tensor, mask: torch.Tensor,
                          l1: torch.Tensor, mask_l1: torch.Tensor) -> dict[str, torch.Tensor]:
        """The stage-1 terms that train G1 (a term left out is reported as 0)."""
        return {"g1_l1": l1, "g1_mask_l1": mask_l1}

    def generator_losses(self, batch: Batch, fake: torch.Tensor) -> dict[str, torch.Tensor]:
        cfg, last = self.config, self._from_last(batch)
        mask = self.target_mask(batch)
        error = (fake - batch["target"]).abs()
        l1, mask_l1 = error.mean(), (error * mask).mean()
        if last["stage"] == 1:
            trained = self._stage_one_losses(batch, fake, mask, l1, mask_l1)
        else:
            logits = self._judge(batch, fake, last["g1"])
            adversarial = sum(self.gan_loss(logits[name], True) for name in cfg.g_adversarial) / len(cfg.g_adversarial)
            trained = {"gan": cfg.lambda_gan * adversarial, "l1": cfg.lambda_l1 * l1, "mask_l1": cfg.lambda_l1 * mask_l1}
        zero = fake.new_zeros(())
        losses = {key: trained.get(key, zero) for key in self.stage_one_terms + self.stage_two_terms}
        if self.training:
            self.steps += 1
        return losses

    def discriminator_losses(self, batch: Batch, fake: torch.Tensor) -> dict[str, torch.Tensor]:
        last = self._from_last(batch)
        if last["stage"] == 1:
            # No D step while G1 trains (as the original). The terms stay (the trainer logs a
            # fixed set of columns) as zeros that give no parameter a gradient: Adam skips
            # parameters without gradients, so D and its moments are untouched until stage 2.
            return {key: fake.new_zeros((), requires_grad=True) for key in D_TERMS}
        logits = self._judge(batch, fake.detach(), last["g1"])
        return {
            "D/real": 0.5 * self.gan_loss(logits["target"], True),
            "D/fake": 0.25 * self.gan_loss(logits["g2"], False),
            "D/source": 0.25 * self.gan_loss(logits["source"], False),
        }

    # -- metadata ---------------------------------------------------------------------

    def _schedule_metadata(self, stage: str) -> dict[str, Any]:
        return {
            "model": self.name,
            "dataset": self.dataset,
            "config": dataclasses.asdict(self.config),
            "stage": stage,
            "current_stage": self.current_stage(),
            "generator_steps": int(self.steps),
            "generator_loss_terms": {"stage 1": list(self.stage_one_terms), "stage 2": list(self.stage_two_terms),
                                     "note": "the other stage's terms are logged as 0"},
        }

    def _canvas_metadata(self) -> dict[str, Any]:
        return {
            "canvas": list(self.canvas),
            "resolution_policy": ("generator runs on the data size" if self.canvas == DATA_SIZES[self.dataset] else
                                  f"pad width to {self.canvas[1]} ({self.config.pad_mode}), disks/masks on the canvas, "
                                  "crop back; D sees the cropped frame padded again"),
        }

    def metadata(self) -> dict[str, Any]:
        cfg = self.config
        stage = {0: f"original schedule: G1 alone for {cfg.g1_steps} steps, then G2 + D with G1 frozen",
                 1: "pinned to stage 1 (G1 only)", 2: "pinned to stage 2 (G2 + D, G1 frozen)"}[cfg.stage]
        return {
            **self._schedule_metadata(stage),
            "pose_input": f"18 binary disks of radius {cfg.point_radius} in {{-1, 1}} (target pose only)",
            "mask": "PG2 training mask (_getPoseMask: limb disks, 5x5 dilation + erosion)",
            "discriminators": {"D": "DCGAN, single images; one batch of " + ", ".join(cfg.d_images)},
            **self._canvas_metadata(),
            "training_in_original": TRAINING[self.dataset],
        }


def staged_config(cls: type, dataset: str, datasets: dict[str, dict[str, Any]], overrides: dict[str, Any]) -> Any:
    """``build_config`` plus the tuple fields YAML gives as lists (PG2's and VDG's configs)."""
    cfg = build_config(cls, dataset, datasets, overrides)
    for name in ("canvas", "d_images", "g_adversarial"):
        value = getattr(cfg, name)
        if value is not None:
            setattr(cfg, name, tuple(value))
    return cfg


def pg2_config(dataset: str, overrides: dict[str, Any]) -> PG2Config:
    return staged_config(PG2Config, dataset, PG2_DATASETS, overrides)


def _generator_only(dataset: str = "market", **config: Any) -> PG2Generator:
    cfg = pg2_config(dataset, config)
    return build_generator(cfg, canvas_size(cfg, dataset))


@MODELS.register(
    "pg2",
    ModelCard(
        paper="Ma et al., NIPS 2017",
        title="Pose Guided Person Image Generation",
        year=2017,
        code="https://github.com/charliememory/Pose-Guided-Person-Image-Generation",
        param_counts={"market": 76_853_958, "deepfashion": 134_799_302},
        generator_builder=_generator_only,
    ),
)
def build_pg2(dataset: str = "market", **config: Any) -> PG2Model:
    return PG2Model(pg2_config(dataset, config), dataset)
