"""The U-Net baseline of the SDGAN paper (Lin et al., "Stacked deformable GAN for pose-based
person image generation").

Notes on the original code, what differs and the open gaps: docs/models/unet.md.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from baselines.layers.blocks import build_config, scaled
from baselines.defgan import DefGANModel
from baselines.layers.blocks import DATA_SIZES
from baselines.layers.unet_gan import (
    HEATMAP_SIGMA, IMAGE_CHANNELS, Encoder, PatchDiscriminator, check_config, decode, decoder, keras_init, scaled_layouts,
    shift_keypoints,
)
from bench.cards import ModelCard
from bench.data.keypoints import NUM_KEYPOINTS
from bench.errors import BenchError
from bench.models.base import Batch, PoseTransferModel
from bench.registry import MODELS

SDGAN_PAPER = "Lin et al., Stacked deformable GAN for pose-based person image generation (SDGAN), 2020"


class UNetGenerator(nn.Module):
    """One-stream U-Net: Def-GAN's encoder on all inputs, plain skips, Def-GAN's decoder."""

    def __init__(self, encoder_channels: tuple[int, ...], decoder_channels: tuple[int, ...],
                 in_channels: int = IMAGE_CHANNELS + 2 * NUM_KEYPOINTS):
        super().__init__()
        if len(encoder_channels) != len(decoder_channels):
            raise ValueError("encoder and decoder need the same number of levels")
        self.depth = len(encoder_channels)
        self.encoder = Encoder(in_channels, encoder_channels)
        self.up, self.to_image = decoder(list(encoder_channels[::-1]), decoder_channels)
        keras_init(self)

    def forward(self, source: torch.Tensor, source_pose: torch.Tensor, target_pose: torch.Tensor) -> torch.Tensor:
        size = tuple(source.shape[-2:])
        if any(s % 2 ** (self.depth - 1) for s in size):
            raise BenchError(f"the U-Net with {self.depth} levels needs sides divisible by {2 ** (self.depth - 1)}, got {size}")
        return decode(self.encoder(torch.cat((source, source_pose, target_pose), 1))[::-1], self.up, self.to_image)


@dataclass
class UNetConfig:
    width: float = 1.0  # multiplies every channel count except the 3 output channels (< 1: CPU tests)
    canvas: tuple[int, int] | None = None  # generator input size; None: the data's size
    pad_mode: str = "replicate"
    reconstruction: str = "l1"  # the baseline command: pixel L1 x 100 ("nn" and "none" as in Def-GAN)
    lambda_l1: float = 100.0
    lambda_nn: float = 0.01
    nn_window: int = 3
    nn_layer: str = "relu1_2"
    lambda_gan: float = 1.0
    weights_dir: str | None = None


UNET_DATASETS: dict[str, dict[str, Any]] = {
    "market": dict(nn_window=3),
    "deepfashion": dict(nn_window=5, canvas=(256, 256)),
}
TRAINING = {
    "market": dict(batch_size=4, iterations=90_000, lr_g=2e-4, lr_d=2e-4, betas=(0.5, 0.999), d_steps=1),
    "deepfashion": dict(batch_size=4, iterations=90_000, lr_g=2e-4, lr_d=2e-4, betas=(0.5, 0.999), d_steps=1),
}


def unet_config(dataset: str, overrides: dict[str, Any]) -> UNetConfig:
    cfg = build_config(UNetConfig, dataset, UNET_DATASETS, overrides)
    check_config(cfg)
    return cfg


def unet_generator(config: UNetConfig, dataset: str) -> UNetGenerator:
    enc, dec = scaled_layouts(tuple(config.canvas) if config.canvas else DATA_SIZES[dataset], config.width)
    return UNetGenerator(enc, dec)


class UNetModel(DefGANModel):
    """Def-GAN's losses, discriminator and canvas policy around the one-stream generator."""

    name = "unet"

    def __init__(self, config: UNetConfig, dataset: str):
        PoseTransferModel.__init__(self)  # DefGANModel.__init__ would build the two-stream generator
        from bench.train.losses import GANLoss

        self.config, self.dataset = config, dataset
        self.canvas = tuple(config.canvas) if config.canvas else DATA_SIZES[dataset]
        self.generator = unet_generator(config, dataset)
        self.discriminators = nn.ModuleDict({"D": PatchDiscriminator(ndf=scaled(64, config.width))})
        self.gan_loss = GANLoss("vanilla", with_logits=True)

    def _canvas_inputs(self, batch: Batch) -> tuple[tuple[torch.Tensor, ...], tuple[int, int]]:
        """(source, source heatmaps, target heatmaps) on the canvas, and the column pads."""
        source = batch["source"]
        left, right = self._canvas_pads(source)
        source_pose, target_pose = batch["source_pose"], batch["target_pose"]
        if left or right:
            from bench.data.pose import heatmaps

            source = F.pad(source, (left, right, 0, 0), mode=self.config.pad_mode)
            source_pose = heatmaps(shift_keypoints(batch["source_keypoints"], left), self.canvas, HEATMAP_SIGMA, source.dtype).to(source.device)
            target_pose = heatmaps(shift_keypoints(batch["target_keypoints"], left), self.canvas, HEATMAP_SIGMA, source.dtype).to(source.device)
        return (source, source_pose, target_pose), (left, right)

    def metadata(self) -> dict[str, Any]:
        meta = super().metadata()
        meta["config"] = dataclasses.asdict(self.config)
        meta["training_in_original"] = TRAINING[self.dataset]
        if self.config.reconstruction == "l1":
            meta["reconstruction"] = f"pixel L1 x{self.config.lambda_l1} (the baseline command)"
        return meta


def _generator_only(dataset: str = "market", **config: Any) -> UNetGenerator:
    return unet_generator(unet_config(dataset, config), dataset)


@MODELS.register(
    "unet",
    ModelCard(
        paper=SDGAN_PAPER,
        title="U-Net baseline (one-stream Def-GAN without deformable skips)",
        year=2020,
        code="https://github.com/AliaksandrSiarohin/pose-gan (--warp_skip none)",
        generator_builder=_generator_only,
    ),
)
def build_unet(dataset: str = "market", **config: Any) -> UNetModel:
    return UNetModel(unet_config(dataset, config), dataset)
