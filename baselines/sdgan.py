"""SDGAN: stacked deformable GAN (Lin et al., "Stacked deformable GAN for pose-based person
image generation"), built on Def-GAN (:mod:`baselines.defgan`, geometry in :mod:`baselines.layers.deform`).

Notes on the original code, what differs and the open gaps: docs/models/sdgan.md.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from baselines.layers import deform
from baselines.layers.blocks import build_config, scaled
from baselines.defgan import DEFORMABLE_LEVELS, DefGANGenerator, DefGANModel
from baselines.layers.blocks import DATA_SIZES
from baselines.layers.unet_gan import IMAGE_CHANNELS, PatchDiscriminator, keras_init, scaled_layouts
from bench.cards import ModelCard
from bench.data.keypoints import NUM_KEYPOINTS
from bench.errors import BenchError
from bench.models.base import Batch, PoseTransferModel
from bench.registry import MODELS

PAPER = "Lin et al., Stacked deformable GAN for pose-based person image generation"
ACTIVATIONS = ("leaky", "relu")
POSE_UPSAMPLING = ("nearest", "bilinear")
D_BLOCKS = (2, 4, 8)  # Def-GAN's discriminator blocks at full resolution, in multiples of ndf


class SDGANGenerator(DefGANGenerator):
    """Def-GAN's two-stream generator whose decoder is split into ``scales`` stacked decoders."""

    def __init__(self, encoder_channels: tuple[int, ...], decoder_channels: tuple[int, ...], scales: int = 3,
                 deformable_levels: int = DEFORMABLE_LEVELS, warp_mode: str = "nearest",
                 decoder_activation: str = "leaky", pose_upsampling: str = "nearest"):
        super().__init__(encoder_channels, decoder_channels, deformable_levels=deformable_levels, warp_mode=warp_mode)
        if not 1 <= scales < self.depth:
            raise BenchError(f"scales must be between 1 and {self.depth - 1} for a {self.depth}-level encoder, got {scales}")
        if pose_upsampling not in POSE_UPSAMPLING:
            raise BenchError(f"unknown pose_upsampling {pose_upsampling!r}; choose one of {', '.join(POSE_UPSAMPLING)}")
        self.scales = scales
        self.pose_upsampling = pose_upsampling
        # Def-GAN's single output layer gives way to one image head G_i per scale.
        del self.to_image
        for step in self.up:
            step[0] = _activation(decoder_activation)
        self.heads = nn.ModuleList(
            nn.Sequential(_activation(decoder_activation), nn.Conv2d(channels, IMAGE_CHANNELS, 3, 1, 1), nn.Tanh())
            for channels in self.head_channels(encoder_channels, decoder_channels)
        )
        keras_init(self.heads)

    def level(self, scale: int) -> int:
        """Encoder level (1/2**level of the image) of scale ``scale`` (0 = lowest resolution)."""
        return self.scales - 1 - scale

    def head_channels(self, encoder_channels: tuple[int, ...], decoder_channels: tuple[int, ...]) -> list[int]:
        """Input width of G_i: decoded feature l_i + Def-GAN skip at its level + pose code h_b."""
        widths = []
        for scale in range(self.scales):
            level = self.level(scale)
            decoded = decoder_channels[self.depth - 2 - level]  # step k outputs level depth - 2 - k
            widths.append(decoded + 2 * encoder_channels[level] + encoder_channels[-1])
        return widths

    def stage_steps(self) -> list[list[int]]:
        """Indices into ``up`` of each stacked decoder DC_i."""
        first = self.depth - self.scales  # DC_0 ends at level scales - 1
        return [list(range(first))] + [[first + i - 1] for i in range(1, self.scales)]

    def forward(self, source: torch.Tensor, source_pose: torch.Tensor, target_pose: torch.Tensor,
                transforms: torch.Tensor, masks: torch.Tensor) -> list[torch.Tensor]:
        """Images from the lowest to the full resolution; inputs as :class:`DefGANGenerator`."""
        size = tuple(source.shape[-2:])
        if any(s % 2 ** (self.depth - 1) for s in size):
            raise BenchError(f"SDGAN with {self.depth} levels needs sides divisible by {2 ** (self.depth - 1)}, got {size}")
        appearance = self.appearance(torch.cat((source, source_pose), 1))
        pose = self.pose(target_pose)
        skips = [
            torch.cat((deform.deformable_skip(app, transforms, masks, size, self.warp_mode) if level < self.deformable_levels
                       else app, tgt), 1)
            for level, (app, tgt) in enumerate(zip(appearance, pose))
        ]
        pose_code = pose[-1]  # h_b
        images = []
        out = self.up[0](skips[-1])
        for k in range(1, len(self.up) + 1):
            level = self.depth - 1 - k  # the level ``out`` is at
            if level < self.scales:
                images.append(self._image(self.scales - 1 - level, out, skips[level], pose_code))
            if k < len(self.up):
                out = self.up[k](torch.cat((out, skips[level]), 1))
        return images

    def _image(self, scale: int, decoded: torch.Tensor, skip: torch.Tensor, pose_code: torch.Tensor) -> torch.Tensor:
        """G_i(l_i, Upsampling_i(h_b)), with the Def-GAN skip of the level."""
        size = decoded.shape[-2:]
        if self.pose_upsampling == "nearest":
            code = F.interpolate(pose_code, size=size, mode="nearest")
        else:
            code = F.interpolate(pose_code, size=size, mode="bilinear", align_corners=False)
        return self.heads[scale](torch.cat((decoded, skip, code), 1))


def _activation(kind: str) -> nn.Module:
    if kind == "leaky":
        return nn.LeakyReLU(0.2)
    if kind == "relu":
        return nn.ReLU()
    raise BenchError(f"unknown decoder_activation {kind!r}; choose one of {', '.join(ACTIVATIONS)}")


class ScaleDiscriminator(PatchDiscriminator):
    """Def-GAN's patch discriminator with ``blocks`` of its three stride-2 IN blocks (logits out)."""

    def __init__(self, blocks: int, in_ch: int = 2 * (IMAGE_CHANNELS + NUM_KEYPOINTS), ndf: int = 64):
        super().__init__(in_ch, ndf, D_BLOCKS[:blocks])


# --------------------------------------------------------------------------------------
# The trainable model


@dataclass
class SDGANConfig:
    width: float = 1.0  # multiplies every channel count except the 3 output channels (< 1: CPU tests)
    scales: int = 3  # low, middle, high resolution (the paper's three images)
    canvas: tuple[int, int] | None = None  # generator input size; None: the data's size
    pad_mode: str = "replicate"  # how images are widened to the canvas ("replicate" or "constant" = 0)
    warp_mode: str = "nearest"
    deformable_levels: int = DEFORMABLE_LEVELS
    decoder_activation: str = "leaky"  # paper section 3.3; "relu" as Def-GAN and the fork
    pose_upsampling: str = "nearest"  # how h_b is rescaled to each scale
    lambda_l1: float = 100.0  # per scale
    lambda_gan: float = 1.0  # per scale


SDGAN_DATASETS: dict[str, dict[str, Any]] = {
    "market": {},
    "deepfashion": dict(canvas=(256, 256)),  # Def-GAN's canvas (not in the paper, which uses Market only)
}
TRAINING = dict(batch_size=4, optimizer="Adam", lr="0.01 -> 0.0001, x0.1 every 100 iterations", length="20 iterations",
                note="paper section 4.2; Market only")


class SDGANModel(DefGANModel):
    """Shares Def-GAN's canvas handling (``_canvas_inputs``); everything else is its own."""

    name = "sdgan"

    def __init__(self, config: SDGANConfig, dataset: str):
        PoseTransferModel.__init__(self)  # not DefGANModel's: it would build Def-GAN's networks
        if config.pad_mode not in ("replicate", "constant"):
            raise BenchError(f"unknown pad_mode {config.pad_mode!r}; choose 'replicate' or 'constant'")
        if not 1 <= config.scales <= len(D_BLOCKS) + 1:
            raise BenchError(f"scales must be between 1 and {len(D_BLOCKS) + 1} (the lowest D needs a 1/8 image), "
                             f"got {config.scales}")
        from bench.train.losses import GANLoss

        self.config = config
        self.dataset = dataset
        self.canvas = tuple(config.canvas) if config.canvas else DATA_SIZES[dataset]
        self.generator = sdgan_generator(config, self.canvas)
        ndf = scaled(64, config.width)
        self.discriminators = nn.ModuleDict({
            f"D{i}": ScaleDiscriminator(self.d_blocks(i), ndf=ndf) for i in range(config.scales)
        })
        self.gan_loss = GANLoss("vanilla", with_logits=True)
        self._last: dict[str, Any] | None = None

    # -- generation -------------------------------------------------------------------

    def d_blocks(self, scale: int) -> int:
        """Def-GAN D blocks kept at scale ``scale``: one fewer per halving, so the patch grid stays."""
        return len(D_BLOCKS) - (self.config.scales - 1 - scale)

    def factor(self, scale: int) -> int:
        """Downsampling factor of scale ``scale`` (0 = lowest resolution)."""
        return 2 ** (self.config.scales - 1 - scale)

    def generate(self, batch: Batch) -> list[torch.Tensor]:
        """Every scale's image on the data frame, lowest resolution first."""
        inputs, (left, right) = self._canvas_inputs(batch)
        images = self.generator(*inputs)
        cropped = []
        for scale, image in enumerate(images):
            f = self.factor(scale)
            if left % f or right % f:
                raise BenchError(f"{self.name}: canvas pads ({left}, {right}) are not divisible by the scale factor {f}")
            cropped.append(image[..., left // f:image.shape[-1] - right // f])
        return cropped

    def forward(self, batch: Batch) -> torch.Tensor:
        images = self.generate(batch)
        self._last = {"source": batch["source"], "images": images}  # the lower scales, for the losses
        return images[-1]

    def _images(self, batch: Batch, fake: torch.Tensor, grad: bool) -> list[torch.Tensor]:
        """This batch's images from ``forward`` (regenerated if it saw another batch), ``fake`` on top."""
        last = self._last
        if last is None or last["source"] is not batch["source"]:
            with torch.set_grad_enabled(grad and torch.is_grad_enabled()):
                last = {"source": batch["source"], "images": self.generate(batch)}
        lower = last["images"][:-1]
        return (lower if grad else [image.detach() for image in lower]) + [fake]

    # -- losses -----------------------------------------------------------------------

    def downsample(self, image: torch.Tensor, scale: int) -> torch.Tensor:
        """Area downsampling to scale ``scale`` (targets, sources, heatmaps)."""
        f = self.factor(scale)
        return image if f == 1 else F.avg_pool2d(image, f)

    def _condition(self, batch: Batch, image: torch.Tensor, scale: int) -> torch.Tensor:
        parts = (batch["source"], batch["source_pose"], batch["target_pose"])
        source, source_pose, target_pose = (self.downsample(p, scale) for p in parts)
        return torch.cat((source, source_pose, image, target_pose), 1)

    def prepare_losses(self) -> None:
        """Nothing to load: the paper's losses need no pretrained network."""

    def generator_losses(self, batch: Batch, fake: torch.Tensor) -> dict[str, torch.Tensor]:
        cfg, losses = self.config, {}
        for scale, image in enumerate(self._images(batch, fake, grad=True)):
            logits = self.discriminators[f"D{scale}"](self._condition(batch, image, scale))
            losses[f"gan_{scale}"] = cfg.lambda_gan * self.gan_loss(logits, True)
            losses[f"l1_{scale}"] = cfg.lambda_l1 * (image - self.downsample(batch["target"], scale)).abs().mean()
        return losses

    def discriminator_losses(self, batch: Batch, fake: torch.Tensor) -> dict[str, torch.Tensor]:
        losses = {}
        for scale, image in enumerate(self._images(batch, fake.detach(), grad=False)):
            d = self.discriminators[f"D{scale}"]
            real = self.downsample(batch["target"], scale)
            losses[f"D{scale}/real"] = self.gan_loss(d(self._condition(batch, real, scale)), True)
            losses[f"D{scale}/fake"] = self.gan_loss(d(self._condition(batch, image, scale)), False)
        return losses

    def metadata(self) -> dict[str, Any]:
        cfg = self.config
        height, width = DATA_SIZES[self.dataset]
        resolutions = [[height // self.factor(i), width // self.factor(i)] for i in range(cfg.scales)]
        return {
            "model": self.name,
            "dataset": self.dataset,
            "config": dataclasses.asdict(cfg),
            "scales": resolutions,
            "stacked_decoders": self.generator.stage_steps(),
            "generator_loss_terms": [f"{term}_{i}" for i in range(cfg.scales) for term in ("gan", "l1")],
            "reconstruction": f"pixel L1 x{cfg.lambda_l1} at every scale against the area-downsampled target",
            "discriminators": {f"D{i}": f"Def-GAN patch D at {h}x{w} with {self.d_blocks(i)} of its 3 IN blocks"
                               for i, (h, w) in enumerate(resolutions)},
            "canvas": list(self.canvas),
            "resolution_policy": ("generator runs on the data size" if self.canvas == DATA_SIZES[self.dataset] else
                                  f"pad width to {self.canvas[1]} ({cfg.pad_mode}), crop every scale back"),
            "training_in_paper": TRAINING,
        }


def sdgan_generator(config: SDGANConfig, canvas: tuple[int, int]) -> SDGANGenerator:
    enc, dec = scaled_layouts(canvas, config.width)
    return SDGANGenerator(enc, dec, scales=config.scales, deformable_levels=config.deformable_levels,
                          warp_mode=config.warp_mode, decoder_activation=config.decoder_activation,
                          pose_upsampling=config.pose_upsampling)


def sdgan_config(dataset: str, overrides: dict[str, Any]) -> SDGANConfig:
    cfg = build_config(SDGANConfig, dataset, SDGAN_DATASETS, overrides)
    if cfg.canvas is not None:
        cfg.canvas = tuple(cfg.canvas)  # YAML gives a list
    return cfg


def _generator_only(dataset: str = "market", **config: Any) -> SDGANGenerator:
    cfg = sdgan_config(dataset, config)
    return sdgan_generator(cfg, tuple(cfg.canvas) if cfg.canvas else DATA_SIZES[dataset])


@MODELS.register(
    "sdgan",
    ModelCard(
        paper=PAPER,
        title="Stacked deformable GAN for pose-based person image generation",
        year=2020,
        code="https://github.com/LanglandsLin/SDGAN (experimental fork; not followed where it departs from the paper)",
        param_counts={"market": 61_192_035, "deepfashion": 82_163_561},
        generator_builder=_generator_only,
    ),
)
def build_sdgan(dataset: str = "market", **config: Any) -> SDGANModel:
    return SDGANModel(sdgan_config(dataset, config), dataset)
