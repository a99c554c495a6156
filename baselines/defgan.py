"""Deformable GAN (Siarohin et al., CVPR 2018), the "full" model: deformable skips + NN loss.

Architecture from AliaksandrSiarohin/pose-gan (``conditional_gan.py`` ``make_generator``
/ ``make_discriminator`` with ``warp_skip=mask``, ``disc_type=call``, HEAD 4b23294);
geometry and norm in :mod:`baselines.layers.deform`.

Notes on the original code, what differs and the open gaps: docs/models/defgan.md.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from baselines.layers import deform
from baselines.layers.blocks import DATA_SIZES, build_config, canvas_pads, scaled
from baselines.layers.unet_gan import (
    HEATMAP_SIGMA, IMAGE_CHANNELS, Encoder, PatchDiscriminator, check_config, decode, decoder, keras_init, prepare_nn_loss,
    reconstruction_losses, reconstruction_summary, scaled_layouts, shift_keypoints,
)
from bench.cards import ModelCard
from bench.data.keypoints import NUM_KEYPOINTS
from bench.errors import BenchError
from bench.models.base import Batch, PoseTransferModel
from bench.registry import MODELS

DEFORMABLE_LEVELS = 4


class DefGANGenerator(nn.Module):
    """Two-stream U-Net with deformable skip connections on the first four levels."""

    def __init__(self, encoder_channels: tuple[int, ...], decoder_channels: tuple[int, ...],
                 appearance_channels: int = IMAGE_CHANNELS + NUM_KEYPOINTS, pose_channels: int = NUM_KEYPOINTS,
                 deformable_levels: int = DEFORMABLE_LEVELS, warp_mode: str = "nearest",
                 skip_gate: str = "identity", canvas: tuple[int, int] = (128, 64)):
        super().__init__()
        if len(encoder_channels) != len(decoder_channels):
            raise ValueError("encoder and decoder need the same number of levels")
        self.deformable_levels = deformable_levels
        self.warp_mode = warp_mode
        self.depth = len(encoder_channels)
        self.encoder_channels = tuple(encoder_channels)
        self.canvas = tuple(canvas)
        self.skip_gates = nn.ModuleList(_gate_factory(skip_gate)(c, s) for c, s in self.skip_shapes())
        self.appearance = Encoder(appearance_channels, encoder_channels)
        self.pose = Encoder(pose_channels, encoder_channels)
        self.up, self.to_image = decoder([2 * c for c in encoder_channels[::-1]], decoder_channels)
        keras_init(self)

    def skip_shapes(self) -> list[tuple[int, tuple[int, int]]]:
        """(channels, (h, w)) of the appearance feature at each skip level, finest first.

        The deepest level is the decoder's input (no decoder feature to join), not a skip.
        """
        h, w = self.canvas
        return [(c, (h >> i, w >> i)) for i, c in enumerate(self.encoder_channels[:-1])]

    def forward(self, source: torch.Tensor, source_pose: torch.Tensor, target_pose: torch.Tensor,
                transforms: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        """Images (B, 3, H, W); ``transforms`` (B, 10, 3, 3) and ``masks`` (B, 10, H, W) at image level."""
        size = tuple(source.shape[-2:])
        if any(s % 2 ** (self.depth - 1) for s in size):
            raise BenchError(f"Def-GAN with {self.depth} levels needs sides divisible by {2 ** (self.depth - 1)}, got {size}")
        appearance = self.appearance(torch.cat((source, source_pose), 1))
        pose = self.pose(target_pose)
        skips = []
        for level, (app, tgt) in enumerate(zip(appearance, pose)):
            if level < self.deformable_levels:
                app = deform.deformable_skip(app, transforms, masks, size, self.warp_mode)
            if level < len(self.skip_gates):  # mUNet masks (identity by default)
                app = self.skip_gates[level](app)
            skips.append(torch.cat((app, tgt), 1))
        return decode(skips[::-1], self.up, self.to_image)


def _gate_factory(name: str) -> Callable[[int, tuple[int, int]], nn.Module]:
    """A factory of :data:`baselines.vdg.SKIP_GATES` (the mUNet masks register there)."""
    from baselines.vdg import SKIP_GATES

    if name not in SKIP_GATES:
        raise BenchError(f"unknown skip_gate {name!r}; choose one of {', '.join(SKIP_GATES)}")
    return SKIP_GATES[name]


# --------------------------------------------------------------------------------------
# The trainable model


@dataclass
class DefGANConfig:
    width: float = 1.0  # multiplies every channel count except the 3 output channels (< 1: CPU tests)
    canvas: tuple[int, int] | None = None  # generator input size; None: the data's size
    pad_mode: str = "replicate"  # how images are widened to the canvas ("replicate" or "constant" = 0)
    warp_mode: str = "nearest"  # the original's tf.contrib.image.transform default
    deformable_levels: int = DEFORMABLE_LEVELS
    reconstruction: str = "nn"  # "nn" (full), "l1" (DSC variant), "none"
    lambda_nn: float = 0.01
    nn_window: int = 3
    nn_layer: str = "relu1_2"  # Keras block1_conv2 includes its ReLU
    lambda_l1: float = 100.0
    lambda_gan: float = 1.0
    weights_dir: str | None = None  # folder with vgg19-dcbb9e9d.pth (else $BENCH_WEIGHTS_DIR / torch hub cache)
    skip_gate: str = "identity"  # gate on each appearance skip after the deformable warp: a key of vdg.SKIP_GATES


DEFGAN_DATASETS: dict[str, dict[str, Any]] = {
    "market": dict(nn_window=3),
    "deepfashion": dict(nn_window=5, canvas=(256, 256)),
}
TRAINING = {
    "market": dict(batch_size=4, iterations=90_000, lr_g=2e-4, lr_d=2e-4, betas=(0.5, 0.999), d_steps=1),
    "deepfashion": dict(batch_size=2, iterations=90_000, lr_g=2e-4, lr_d=2e-4, betas=(0.5, 0.999), d_steps=1),
}


class DefGANModel(PoseTransferModel):
    name = "def-gan"

    def __init__(self, config: DefGANConfig, dataset: str):
        super().__init__()
        check_config(config)
        from bench.train.losses import GANLoss

        self.config = config
        self.dataset = dataset
        self.canvas = tuple(config.canvas) if config.canvas else DATA_SIZES[dataset]
        enc, dec = scaled_layouts(self.canvas, config.width)
        self.generator = DefGANGenerator(enc, dec, deformable_levels=config.deformable_levels, warp_mode=config.warp_mode,
                                         skip_gate=config.skip_gate, canvas=self.canvas)
        self.discriminators = nn.ModuleDict({"D": PatchDiscriminator(ndf=scaled(64, config.width))})
        self.gan_loss = GANLoss("vanilla", with_logits=True)

    # -- generation -------------------------------------------------------------------

    def _canvas_pads(self, source: torch.Tensor) -> tuple[int, int]:
        """The (left, right) columns that widen one source image (B, 3, H, W) to the canvas."""
        if source.dim() != 4:
            raise BenchError(f"{self.name} takes one source image per pair; got a source tensor of shape {tuple(source.shape)}")
        return canvas_pads(self.name, source, self.canvas)

    def _canvas_inputs(self, batch: Batch) -> tuple[tuple[torch.Tensor, ...], tuple[int, int]]:
        """Generator inputs on the canvas, and the (left, right) column pads to crop off."""
        source = batch["source"]
        left, right = self._canvas_pads(source)
        src_kp = shift_keypoints(batch["source_keypoints"], left)
        tgt_kp = shift_keypoints(batch["target_keypoints"], left)
        source_pose, target_pose = batch["source_pose"], batch["target_pose"]
        if left or right:
            from bench.data.pose import heatmaps

            source = F.pad(source, (left, right, 0, 0), mode=self.config.pad_mode)
            source_pose = heatmaps(src_kp, self.canvas, HEATMAP_SIGMA, source.dtype).to(source.device)
            target_pose = heatmaps(tgt_kp, self.canvas, HEATMAP_SIGMA, source.dtype).to(source.device)
        transforms = torch.from_numpy(deform.part_transforms(src_kp, tgt_kp)).to(source.device)
        masks = torch.from_numpy(deform.part_masks(tgt_kp, self.canvas)).to(source.device, source.dtype)
        return (source, source_pose, target_pose, transforms, masks), (left, right)

    def forward(self, batch: Batch) -> torch.Tensor:
        inputs, (left, right) = self._canvas_inputs(batch)
        out = self.generator(*inputs)
        return out[..., left:out.shape[-1] - right]

    # -- losses -----------------------------------------------------------------------

    def _condition(self, batch: Batch, image: torch.Tensor) -> torch.Tensor:
        return torch.cat((batch["source"], batch["source_pose"], image, batch["target_pose"]), 1)

    def prepare_losses(self) -> None:
        prepare_nn_loss(self)

    def generator_losses(self, batch: Batch, fake: torch.Tensor) -> dict[str, torch.Tensor]:
        cfg, target = self.config, batch["target"]
        losses = {"gan": cfg.lambda_gan * self.gan_loss(self.discriminators["D"](self._condition(batch, fake)), True)}
        return {**losses, **reconstruction_losses(self, fake, target)}

    def discriminator_losses(self, batch: Batch, fake: torch.Tensor) -> dict[str, torch.Tensor]:
        d, weight = self.discriminators["D"], self.config.lambda_gan
        return {
            "D/real": weight * self.gan_loss(d(self._condition(batch, batch["target"])), True),
            "D/fake": weight * self.gan_loss(d(self._condition(batch, fake.detach())), False),
        }

    def metadata(self) -> dict[str, Any]:
        cfg = self.config
        recon, recon_terms = reconstruction_summary(cfg, "DSC variant; config reconstruction='l1'")
        return {
            "model": self.name,
            "dataset": self.dataset,
            "config": dataclasses.asdict(cfg),
            "generator_loss_terms": ["gan"] + recon_terms,
            "reconstruction": recon,
            "canvas": list(self.canvas),
            "resolution_policy": ("generator runs on the data size" if self.canvas == DATA_SIZES[self.dataset] else
                                  f"pad width to {self.canvas[1]} ({cfg.pad_mode}), heatmaps/transforms/masks on the canvas, crop back"),
            "training_in_original": TRAINING[self.dataset],
        }


@MODELS.register(
    "def-gan",
    ModelCard(
        paper="Siarohin et al., CVPR 2018",
        title="Deformable GANs for Pose-based Human Image Generation",
        year=2018,
        code="https://github.com/AliaksandrSiarohin/pose-gan",
        param_counts={"market": 61_109_085, "deepfashion": 82_080_611},
    ),
)
def build_defgan(dataset: str = "market", **config: Any) -> DefGANModel:
    cfg = build_config(DefGANConfig, dataset, DEFGAN_DATASETS, config)
    return DefGANModel(cfg, dataset)
