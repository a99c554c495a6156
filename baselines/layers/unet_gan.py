"""Def-GAN's U-Net pieces (Siarohin et al., CVPR 2018; AliaksandrSiarohin/pose-gan), shared by
def-gan, msdefgan, sdgan, unet and the mUNet variants: encoder/decoder layouts, the patch
discriminator, Keras initialisation, the reconstruction terms and the keypoint shift.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from baselines.layers import deform
from baselines.layers.blocks import scaled
from bench.data.keypoints import MISSING, NUM_KEYPOINTS
from bench.errors import BenchError
from bench.models.base import PoseTransferModel

IMAGE_CHANNELS = 3
ENCODER_128 = (64, 128, 256, 512, 512, 512)
DECODER_128 = (512, 512, 512, 256, 128, 3)
ENCODER_256 = (64, 128, 256, 512, 512, 512, 512)
DECODER_256 = (512, 512, 512, 512, 256, 128, 3)
DROPOUT_STEPS = 3
HEATMAP_SIGMA = 6.0
RECONSTRUCTIONS = ("nn", "l1", "none")


def layouts(canvas: tuple[int, int]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Encoder and decoder channels for a canvas (the original's ``max(image_size) == 128`` rule)."""
    return (ENCODER_128, DECODER_128) if max(canvas) == 128 else (ENCODER_256, DECODER_256)


def scaled_layouts(canvas: tuple[int, int], width: float) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """``layouts`` with every channel count times ``width`` except the 3 output channels."""
    enc, dec = layouts(canvas)
    return tuple(scaled(c, width) for c in enc), tuple(scaled(c, width) for c in dec[:-1]) + (dec[-1],)


def check_config(cfg: Any) -> None:
    """The reconstruction and pad_mode checks of Def-GAN and the models built on it."""
    if cfg.reconstruction not in RECONSTRUCTIONS:
        raise BenchError(f"unknown reconstruction {cfg.reconstruction!r}; choose one of {', '.join(RECONSTRUCTIONS)}")
    if cfg.pad_mode not in ("replicate", "constant"):
        raise BenchError(f"unknown pad_mode {cfg.pad_mode!r}; choose 'replicate' or 'constant'")


def down_block(in_ch: int, out_ch: int, norm: bool) -> nn.Sequential:
    layers: list[nn.Module] = [nn.LeakyReLU(0.2), nn.Conv2d(in_ch, out_ch, 4, 2, 1, bias=False)]
    if norm:
        layers.append(deform.ScalarInstanceNorm())
    return nn.Sequential(*layers)


def up_block(in_ch: int, out_ch: int, dropout: bool) -> nn.Sequential:
    layers: list[nn.Module] = [nn.ReLU(), nn.ConvTranspose2d(in_ch, out_ch, 4, 2, 1, bias=False), deform.ScalarInstanceNorm()]
    if dropout:
        layers.append(nn.Dropout(0.5))
    return nn.Sequential(*layers)


class Encoder(nn.Module):
    """conv3x3 (bias), then LeakyReLU / 4x4 stride-2 conv / scalar IN per level; returns every level."""

    def __init__(self, in_ch: int, channels: tuple[int, ...]):
        super().__init__()
        levels: list[nn.Module] = [nn.Conv2d(in_ch, channels[0], 3, 1, 1)]
        for i in range(1, len(channels)):
            levels.append(down_block(channels[i - 1], channels[i], norm=i < len(channels) - 1))
        self.levels = nn.ModuleList(levels)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        features = []
        for level in self.levels:
            x = level(x)
            features.append(x)
        return features


def decoder(skips: list[int], channels: tuple[int, ...]) -> tuple[nn.ModuleList, nn.Sequential]:
    """Def-GAN's decoder for skip widths ``skips`` (deepest first): up-convolutions, then the image conv."""
    steps: list[nn.Module] = []
    previous = 0
    for i, out_ch in enumerate(channels[:-1]):
        steps.append(up_block(previous + skips[i], out_ch, dropout=i < DROPOUT_STEPS))
        previous = out_ch
    to_image = nn.Sequential(nn.ReLU(), nn.Conv2d(previous + skips[-1], channels[-1], 3, 1, 1), nn.Tanh())
    return nn.ModuleList(steps), to_image


def decode(skips: list[torch.Tensor], up: nn.ModuleList, to_image: nn.Module) -> torch.Tensor:
    """``decoder``'s layers on the skip features, deepest first."""
    out = up[0](skips[0])
    for step, skip in zip(up[1:], skips[1:]):
        out = step(torch.cat((out, skip), 1))
    return to_image(torch.cat((out, skips[-1]), 1))


class PatchDiscriminator(nn.Module):
    """Def-GAN's 'call' discriminator; outputs logits (the original's sigmoid is in the loss)."""

    def __init__(self, in_ch: int = 2 * (IMAGE_CHANNELS + NUM_KEYPOINTS), ndf: int = 64,
                 mults: tuple[int, ...] = (2, 4, 8)):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(in_ch, ndf, 4, 2, 0)]
        channels = ndf
        for mult in mults:
            layers.append(down_block(channels, ndf * mult, norm=True))
            channels = ndf * mult
        layers.append(down_block(channels, 1, norm=False))
        self.model = nn.Sequential(*layers)
        keras_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


def keras_init(module: nn.Module, types: tuple[type, ...] = (nn.Conv2d, nn.ConvTranspose2d)) -> None:
    """Glorot-uniform kernels and zero biases (Keras defaults) for the layers of ``types``."""
    for m in module.modules():
        if isinstance(m, types):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def prepare_nn_loss(model: PoseTransferModel) -> None:
    """Load VGG19 for the NN loss now (raises ``WeightsMissing`` without its weights)."""
    if model.config.reconstruction == "nn" and "vgg" not in model.loss_modules:
        from bench.train.losses import VGG19Features

        model.loss_modules["vgg"] = VGG19Features((model.config.nn_layer,), weights_dir=model.config.weights_dir)


def reconstruction_summary(config, l1_note: str = "config reconstruction='l1'") -> tuple[str, list[str]]:
    """The configured reconstruction term in words, and its loss-term names, for ``metadata()``."""
    words = {
        "nn": f"NN loss x{config.lambda_nn} on VGG19 {config.nn_layer}, {config.nn_window}x{config.nn_window} window",
        "l1": f"pixel L1 x{config.lambda_l1} ({l1_note})",
        "none": "off (config reconstruction='none')",
    }[config.reconstruction]
    return words, {"nn": ["nn"], "l1": ["l1"], "none": []}[config.reconstruction]


def reconstruction_losses(model: PoseTransferModel, fake: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
    """The configured reconstruction term of the Def-GAN family: NN loss on VGG features, pixel L1, or none."""
    cfg = model.config
    if cfg.reconstruction == "nn":
        prepare_nn_loss(model)
        vgg = model.loss_modules["vgg"].to(fake.device)
        with torch.no_grad():
            reference = vgg(target)[cfg.nn_layer]
        return {"nn": cfg.lambda_nn * deform.nn_loss(vgg(fake)[cfg.nn_layer], reference, cfg.nn_window)}
    if cfg.reconstruction == "l1":
        return {"l1": cfg.lambda_l1 * (fake - target).abs().mean()}
    return {}


def shift_keypoints(keypoints: torch.Tensor, dx: int) -> torch.Tensor:
    """Keypoints (..., 18, 2) (y, x) moved ``dx`` columns right; missing ones stay -1."""
    kp = torch.as_tensor(keypoints).detach().cpu().to(torch.float64)
    if dx == 0:
        return kp
    present = (kp != MISSING).all(-1, keepdim=True)
    return torch.where(present, kp + torch.tensor([0.0, float(dx)], dtype=kp.dtype), kp)
