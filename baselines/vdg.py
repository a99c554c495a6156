"""VDG: View-Disentangled Generator (Lakhal et al., ECCVW 2018) and VDG without input pose.

No code of VDG is public and its text beyond the introduction could not be read here:
the model is written from the mUNet paper's description (Lakhal, Lanz, Cavallaro,
seeds/003), which pins it to the PG2 code base (:mod:`baselines.pg2`).

Notes on the original code, what differs and the open gaps: docs/models/vdg.md.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from baselines import pg2
from baselines.layers.blocks import scaled
from baselines.pg2 import (IMAGE_CHANNELS, DiffMapUNet, canvas_size, residual_decode, residual_decoder,
                           residual_encode, residual_encoder, slim_init)
from bench.cards import ModelCard
from bench.data.keypoints import NUM_KEYPOINTS
from bench.errors import BenchError
from bench.models.base import Batch
from bench.registry import MODELS

SSIM_WINDOW, SSIM_SIGMA = 11, 1.5

#: Every choice the papers leave open, as recorded in checkpoints' metadata.
GAPS = (
    "architecture: PG2's G1 layers (n=128, N=5/6 residual levels, z=64, ReLU, no norm, Glorot init) for each "
    "branch, inferred from the mUNet paper (128x64x128 first block, N=5/6, FC only in Stage I, TensorFlow, mask L1)",
    "fusion: each branch ends in its own FC to z=64; the decoder's first FC maps concat(v_I, v_P) (2z) to the "
    "bottleneck map",
    "skips: from the image branch only (the paper masks 'the encoder' feature of 128 channels at 128x64 and "
    "'input features'); the pose branch has none",
    "vdg-np (the paper's VDG_np): image branch sees the source image alone (3 ch); all else as VDG",
    "pose input: PG2's 18 binary radius-4 disks in {-1, 1} (not the harness's Gaussian heatmaps)",
    "enhanced weighting loss: mean((1+M)|e|) + ssim_weight*mean((1+M)(1-SSIM map)), M the PG2 pose mask; "
    "ssim_weight=1 is our choice (the paper says only 'based on SSIM')",
    "Stage II: PG2's G2 difference-map U-Net and losses (adversarial + lambda*(L1 + mask L1), lambda 10/50)",
    "discriminator: PG2's DCGAN D and per-dataset batch layout",
    "optimiser: PG2's Adam lr 2e-5, betas (0.5, 0.999), constant; batch 16 (Market) / 1 (DeepFashion)",
    "resolution: DeepFashion on PG2's 256x256 canvas (pad 176->256, crop back)",
)


# --------------------------------------------------------------------------------------
# Skip gates: where the mUNet masks plug in


def identity_gate(channels: int, size: tuple[int, int]) -> nn.Module:
    return nn.Identity()


#: ``name -> factory(channels, (h, w)) -> nn.Module`` mapping an encoder feature (B, C, h, w)
#: to the (B, C, h, w) tensor the decoder concatenates. Masked variants add entries here.
SKIP_GATES: dict[str, Callable[[int, tuple[int, int]], nn.Module]] = {"identity": identity_gate}


# --------------------------------------------------------------------------------------
# Stage I (PG2 G1's layers: SAME padding, bias, ReLU, Glorot-uniform, zero biases)


class BranchEncoder(nn.Module):
    """PG2 G1's encoder: conv3x3 to n, residual levels at n(i+1), stride-2 convs, FC to z."""

    def __init__(self, in_channels: int, hidden: int, levels: int, bottleneck: tuple[int, int], z_num: int):
        super().__init__()
        self.bottleneck = bottleneck
        self.conv_in, self.levels, self.down = residual_encoder(in_channels, hidden, levels)
        h, w = bottleneck
        self.fc = nn.Linear(h * w * hidden * levels, z_num)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """The bottleneck vector (B, z) and every level's feature, finest first."""
        x, features = residual_encode(x, self.conv_in, self.levels, self.down)
        if tuple(x.shape[-2:]) != self.bottleneck:
            raise BenchError(f"VDG was built for a {self.bottleneck} bottleneck, the input gives {tuple(x.shape[-2:])}")
        return self.fc(x.permute(0, 2, 3, 1).flatten(1)), features  # TF flattens NHWC


class VDGStageOne(nn.Module):
    """Image branch + pose branch encoders, late fusion of their vectors, PG2 G1's decoder.

    The decoder's skip at level i is ``skip_gates[i](image_features[i])``.
    """

    def __init__(self, image_channels: int, pose_channels: int, hidden: int, levels: int,
                 bottleneck: tuple[int, int], z_num: int, skip_gate: str = "identity"):
        super().__init__()
        if skip_gate not in SKIP_GATES:
            raise BenchError(f"unknown skip_gate {skip_gate!r}; choose one of {', '.join(SKIP_GATES)}")
        self.hidden = hidden
        self.bottleneck = bottleneck
        self.image_encoder = BranchEncoder(image_channels, hidden, levels, bottleneck, z_num)
        self.pose_encoder = BranchEncoder(pose_channels, hidden, levels, bottleneck, z_num)
        h, w = bottleneck
        self.fc_fused = nn.Linear(2 * z_num, h * w * hidden)
        self.skip_gates = nn.ModuleList(SKIP_GATES[skip_gate](c, s) for c, s in self.skip_shapes())
        self.decoder, self.reduce, self.conv_out = residual_decoder(hidden, levels)

    def skip_shapes(self) -> list[tuple[int, tuple[int, int]]]:
        """(channels, (h, w)) of the image-branch feature at each level, finest first."""
        levels = len(self.image_encoder.levels)
        h, w = self.bottleneck
        scale = [2 ** (levels - 1 - i) for i in range(levels)]
        return [(self.hidden * (i + 1), (h * scale[i], w * scale[i])) for i in range(levels)]

    def forward(self, appearance: torch.Tensor, target_pose: torch.Tensor) -> torch.Tensor:
        v_image, features = self.image_encoder(appearance)
        v_pose, _ = self.pose_encoder(target_pose)
        h, w = self.bottleneck
        x = self.fc_fused(torch.cat((v_image, v_pose), 1)).view(len(v_image), h, w, -1).permute(0, 3, 1, 2)
        skips = [gate(f) for gate, f in zip(self.skip_gates, features)]
        return residual_decode(x, skips, self.decoder, self.reduce, self.conv_out)


class VDGGenerator(nn.Module):
    """Stage I then (``refine=True``) Stage II with Stage I frozen; returns (Stage I, Stage II or None)."""

    def __init__(self, stage1: VDGStageOne, stage2: DiffMapUNet, input_pose: bool):
        super().__init__()
        self.stage1 = stage1
        self.stage2 = stage2
        self.input_pose = input_pose

    def forward(self, source: torch.Tensor, source_pose: torch.Tensor | None, target_pose: torch.Tensor,
                refine: bool = True) -> tuple[torch.Tensor, torch.Tensor | None]:
        appearance = torch.cat((source, source_pose), 1) if self.input_pose else source
        if not refine:
            return self.stage1(appearance, target_pose), None
        with torch.no_grad():  # Stage II trains with Stage I frozen
            coarse = self.stage1(appearance, target_pose)
        return coarse, coarse + self.stage2(torch.cat((coarse, source), 1))


# --------------------------------------------------------------------------------------
# The enhanced weighting loss


def ssim_map(x: torch.Tensor, y: torch.Tensor, data_range: float = 2.0) -> torch.Tensor:
    """Per-pixel, per-channel SSIM (Wang et al. 2004; Gaussian 11x11, σ 1.5) over the valid region.

    Shape (B, C, H - 10, W - 10); its mean equals scikit-image's ``structural_similarity``
    with ``gaussian_weights=True, use_sample_covariance=False``.
    """
    radius = SSIM_WINDOW // 2
    offsets = torch.arange(SSIM_WINDOW, dtype=x.dtype, device=x.device) - radius
    g = torch.exp(-(offsets**2) / (2 * SSIM_SIGMA**2))
    g = g / g.sum()
    channels = x.shape[1]
    window = (g[:, None] * g[None, :]).expand(channels, 1, SSIM_WINDOW, SSIM_WINDOW)

    def blur(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(t, window, groups=channels)

    mx, my = blur(x), blur(y)
    vx, vy, cxy = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    return ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))


def weighted_ssim_loss(fake: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """mean((1 + M)·(1 - SSIM)) over the valid region; ``mask`` (B, 1, H, W) in {0, 1}."""
    radius = SSIM_WINDOW // 2
    weights = 1 + mask[..., radius:mask.shape[-2] - radius, radius:mask.shape[-1] - radius]
    return (weights * (1 - ssim_map(fake, target))).mean()


# --------------------------------------------------------------------------------------
# The trainable model


@dataclass
class VDGConfig:
    width: float = 1.0  # multiplies hidden and ndf; < 1 only for small CPU test models
    input_pose: bool = True  # False: "VDG without input pose" (VDG_np)
    hidden: int = 128
    z_num: int = 64  # per branch; the decoder sees 2 * z_num
    ndf: int = 64
    levels: int | None = None  # Stage I levels; None: log2(canvas height) - 2 (Stage II has two fewer)
    g2_top_skip: bool = False  # PG2: False at 128x64, True at 256
    skip_gate: str = "identity"  # Stage I skip connections: a key of SKIP_GATES
    canvas: tuple[int, int] | None = None  # network input size; None: the data's size
    pad_mode: str = "replicate"
    point_radius: int = 4
    stage: int = 0  # 0: Stage I for g1_steps, then Stage II + D; 1 or 2: pinned
    g1_steps: int = 30_000
    ssim_weight: float = 1.0  # the SSIM part of the enhanced weighting loss
    lambda_gan: float = 1.0
    lambda_l1: float = 10.0  # weight of (L1 + pose-mask L1) in Stage II
    d_images: tuple[str, ...] = ("target", "source", "g1", "g2")  # one D batch, in this order
    g_adversarial: tuple[str, ...] = ("g2",)  # D outputs the generator labels real


VDG_DATASETS: dict[str, dict[str, Any]] = {
    "market": dict(g1_steps=30_000, lambda_l1=10.0, g2_top_skip=False,
                   d_images=("target", "source", "g1", "g2"), g_adversarial=("g2",)),
    "deepfashion": dict(g1_steps=50_000, lambda_l1=50.0, g2_top_skip=True, canvas=(256, 256),
                        d_images=("target", "g2", "source"), g_adversarial=("g2", "source")),
}
TRAINING = {  # Stage I + Stage II steps from the mUNet paper; the rest is PG2's
    "market": dict(batch_size=16, iterations=44_000, g1_steps=30_000, lr_g=2e-5, lr_d=2e-5, betas=(0.5, 0.999),
                   lr_schedule="constant"),
    "deepfashion": dict(batch_size=1, iterations=80_000, g1_steps=50_000, lr_g=2e-5, lr_d=2e-5, betas=(0.5, 0.999),
                        lr_schedule="constant"),
}


def vdg_config(dataset: str, overrides: dict[str, Any]) -> VDGConfig:
    cfg = pg2.staged_config(VDGConfig, dataset, VDG_DATASETS, overrides)
    _check_config(cfg)
    return cfg


def _check_config(cfg: VDGConfig) -> None:
    pg2.check_config(cfg, schedule="Stage I then Stage II")
    if cfg.skip_gate not in SKIP_GATES:
        raise BenchError(f"unknown skip_gate {cfg.skip_gate!r}; choose one of {', '.join(SKIP_GATES)}")


def build_generator(cfg: VDGConfig, canvas: tuple[int, int]) -> VDGGenerator:
    levels, bottleneck = pg2.g1_geometry(cfg, canvas, "VDG", ("Stage I", "Stage II"))
    hidden = scaled(cfg.hidden, cfg.width)
    image_channels = IMAGE_CHANNELS + (NUM_KEYPOINTS if cfg.input_pose else 0)
    stage1 = VDGStageOne(image_channels, NUM_KEYPOINTS, hidden, levels, bottleneck, cfg.z_num, cfg.skip_gate)
    stage2 = DiffMapUNet(2 * IMAGE_CHANNELS, hidden, levels - 2, cfg.g2_top_skip)
    generator = VDGGenerator(stage1, stage2, cfg.input_pose)
    slim_init(generator)
    return generator


class VDGModel(pg2.PG2Model):
    """PG2's staged model, canvas, D and stage-2 losses with VDG's generator and enhanced weighting loss."""

    name = "vdg"
    stage_one_terms = ("g1_l1", "g1_mask_l1", "g1_ssim")

    def __init__(self, config: VDGConfig, dataset: str, name: str = "vdg"):
        super().__init__(config, dataset)
        self.name = name

    check_config = staticmethod(_check_config)

    def build_generator(self, config: VDGConfig) -> VDGGenerator:
        return build_generator(config, self.canvas)

    def _poses(self, batch: Batch, left: int, like: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        source_pose = self._disks(batch, "source_keypoints", left, like) if self.config.input_pose else None
        return source_pose, self._disks(batch, "target_keypoints", left, like)

    def _stage_one_losses(self, batch: Batch, fake: torch.Tensor, mask: torch.Tensor,
                          l1: torch.Tensor, mask_l1: torch.Tensor) -> dict[str, torch.Tensor]:
        losses = {"g1_l1": l1, "g1_mask_l1": mask_l1}
        if self.config.ssim_weight:
            losses["g1_ssim"] = self.config.ssim_weight * weighted_ssim_loss(fake, batch["target"], mask)
        return losses

    def metadata(self) -> dict[str, Any]:
        cfg = self.config
        stage = {0: f"Stage I alone for {cfg.g1_steps} steps, then Stage II + D with Stage I frozen",
                 1: "pinned to Stage I", 2: "pinned to Stage II (Stage I frozen)"}[cfg.stage]
        return {
            **self._schedule_metadata(stage),
            "image_branch_input": "source image + source pose disks" if cfg.input_pose else "source image only",
            "skip_gate": cfg.skip_gate,
            "pose_input": f"18 binary disks of radius {cfg.point_radius} in {{-1, 1}}",
            "discriminators": {"D": "PG2 DCGAN, single images; one batch of " + ", ".join(cfg.d_images)},
            **self._canvas_metadata(),
            "training_in_paper": TRAINING[self.dataset],
            "gaps_filled": list(GAPS),
        }


# --------------------------------------------------------------------------------------
# Registration


def _generator_only(dataset: str = "market", input_pose: bool = True, **config: Any) -> VDGGenerator:
    cfg = vdg_config(dataset, {**config, "input_pose": input_pose})
    return build_generator(cfg, canvas_size(cfg, dataset))


_META = dict(
    paper="Lakhal et al., ECCVW 2018",
    title="Pose Guided Human Image Synthesis by View Disentanglement and Enhanced Weighting Loss",
    year=2018,
    code=None,
    described_in="Lakhal, Lanz, Cavallaro, Learnable Masks for Pose-Guided View Synthesis (mUNet; seeds/003)",
)


@MODELS.register(
    "vdg",
    ModelCard(
        **_META,
        param_counts={"market": 100_571_782, "deepfashion": 175_657_094},
        generator_builder=lambda dataset="market", **config: _generator_only(dataset, True, **config),
    ),
)
def build_vdg(dataset: str = "market", **config: Any) -> VDGModel:
    if config.get("input_pose") is False:
        raise BenchError("vdg always sees the input pose; use vdg-np for the model without it")
    return VDGModel(vdg_config(dataset, {**config, "input_pose": True}), dataset, "vdg")


@MODELS.register(
    "vdg-np",
    ModelCard(
        **_META,
        param_counts={"market": 100_551_046, "deepfashion": 175_636_358},
        generator_builder=lambda dataset="market", **config: _generator_only(dataset, False, **config),
    ),
)
def build_vdg_wo_pose(dataset: str = "market", **config: Any) -> VDGModel:
    if config.get("input_pose") is True:
        raise BenchError("vdg-np never sees the input pose; use vdg for the model with it")
    return VDGModel(vdg_config(dataset, {**config, "input_pose": False}), dataset, "vdg-np")
