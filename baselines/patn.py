"""PATN: Progressive Pose Attention Transfer (Zhu et al., CVPR 2019).

Architecture and training objective from the authors' code, tengteng95/Pose-Transfer
(``models/model_variants.py``, ``models/networks.py``, ``models/PATN.py``): two encoders,
9 pose-attentional transfer blocks at 256 channels, a decoder, and the D_PB / D_PP
discriminators, layer for layer (state-dict keys are the original ones).

Notes on the original code, what differs and the open gaps: docs/models/patn.md.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from baselines.layers.blocks import GAN_MODES, ResnetDiscriminator, build_config, conv_bias, decoder, encoder, init_normal, norm_layer, scaled
from bench.cards import ModelCard
from bench.data.keypoints import NUM_KEYPOINTS
from bench.errors import BenchError
from bench.models.base import Batch, PoseTransferModel
from bench.registry import MODELS

IMAGE_CHANNELS = 3


# --------------------------------------------------------------------------------------
# The PATN training objective (shared by PoNA, which trains the same way)


@dataclass
class PairGANConfig:
    """Loss and discriminator settings of PATN-style training (defaults: PATN Market)."""

    norm: str = "batch"
    width: float = 1.0  # multiplies ngf and ndf; < 1 only for small CPU test models
    ndf: int = 64
    n_blocks_d: int = 3
    dropout_d: bool = True
    d_leaky_slope: float | None = None  # None: ReLU as in the code
    spectral_d: bool = False
    gan_mode: str = "vanilla"
    lambda_gan: float = 5.0
    lambda_l1: float = 10.0
    lambda_perceptual: float = 10.0
    perceptual: bool = True
    perceptual_layer: str = "relu1_2"
    weights_dir: str | None = None  # folder with vgg19-dcbb9e9d.pth (else $BENCH_WEIGHTS_DIR / torch hub cache)
    pool_size: int = 50


class PairGANModel(PoseTransferModel):
    """A generator judged by PATN's two conditional discriminators.

    ``D_PB`` sees (image, target heatmaps), ``D_PP`` sees (image, source image); the
    real image is the target. The generator's adversarial term is the mean of the
    two (``λ_GAN·½(L_PB + L_PP)``); each discriminator minimises
    ``λ_GAN·½(L_real + L_fake)`` with fakes drawn through its own image pool.
    """

    name = "pair-gan"

    def __init__(self, generator: nn.Module, config: PairGANConfig, dataset: str):
        super().__init__()
        if config.gan_mode not in GAN_MODES:
            raise BenchError(f"unknown gan_mode {config.gan_mode!r}; choose one of {', '.join(GAN_MODES)}")
        from bench.train.losses import GANLoss, ImagePool

        self.config = config
        self.dataset = dataset
        self.generator = generator
        self.gan_loss = GANLoss(config.gan_mode)
        ndf = scaled(config.ndf, config.width)
        disc = dict(ndf=ndf, norm=config.norm, n_blocks=config.n_blocks_d, dropout=config.dropout_d,
                    sigmoid=self.gan_loss.needs_sigmoid, spectral=config.spectral_d, leaky_slope=config.d_leaky_slope)
        self.discriminators = nn.ModuleDict({
            "D_PB": ResnetDiscriminator(IMAGE_CHANNELS + NUM_KEYPOINTS, **disc),
            "D_PP": ResnetDiscriminator(2 * IMAGE_CHANNELS, **disc),
        })
        # Submodules, so the pooled fakes travel with the model's checkpoints.
        self.pools = nn.ModuleDict({name: ImagePool(config.pool_size) for name in self.discriminators})

    def forward(self, batch: Batch) -> torch.Tensor:
        source = batch["source"]
        if source.dim() != 4:
            raise BenchError(f"{self.name} takes one source image per pair; got a source tensor of shape {tuple(source.shape)}")
        poses = torch.cat((batch["source_pose"], batch["target_pose"]), 1)
        return self.generator(source, poses)

    def _pair(self, name: str, batch: Batch, image: torch.Tensor) -> torch.Tensor:
        condition = batch["target_pose"] if name == "D_PB" else batch["source"]
        return torch.cat((image, condition), 1)

    def _perceptual(self, device: torch.device) -> nn.Module:
        # Built on first use: inference, counting and checkpoint import never need VGG weights.
        if "perceptual" not in self.loss_modules:
            self.prepare_losses()
        return self.loss_modules["perceptual"].to(device)

    def prepare_losses(self) -> None:
        """Load the VGG19 perceptual network now (raises ``WeightsMissing`` without its weights)."""
        if self.config.perceptual and "perceptual" not in self.loss_modules:
            from bench.train.losses import PerceptualLoss

            self.loss_modules["perceptual"] = PerceptualLoss(self.config.perceptual_layer, weights_dir=self.config.weights_dir)

    def generator_losses(self, batch: Batch, fake: torch.Tensor) -> dict[str, torch.Tensor]:
        from bench.train.losses import l1_loss

        cfg, target = self.config, batch["target"]
        losses = {"l1": cfg.lambda_l1 * l1_loss(fake, target)}
        if cfg.perceptual:
            losses["perceptual"] = cfg.lambda_perceptual * self._perceptual(fake.device)(fake, target)
        adversarial = [self.gan_loss(d(self._pair(name, batch, fake)), True) for name, d in self.discriminators.items()]
        losses["gan"] = cfg.lambda_gan * sum(adversarial) / len(adversarial)
        return losses

    def discriminator_losses(self, batch: Batch, fake: torch.Tensor) -> dict[str, torch.Tensor]:
        weight = 0.5 * self.config.lambda_gan
        losses = {}
        for name, d in self.discriminators.items():
            real = self._pair(name, batch, batch["target"])
            pooled = self.pools[name].query(self._pair(name, batch, fake.detach()))
            losses[f"{name}/real"] = weight * self.gan_loss(d(real), True)
            losses[f"{name}/fake"] = weight * self.gan_loss(d(pooled), False)
        return losses

    def metadata(self) -> dict[str, Any]:
        cfg = self.config
        terms = ["l1"] + (["perceptual"] if cfg.perceptual else []) + ["gan"]
        return {
            "model": self.name,
            "dataset": self.dataset,
            "config": dataclasses.asdict(cfg),
            "generator_loss_terms": terms,
            "perceptual": f"VGG19 {cfg.perceptual_layer}" if cfg.perceptual else "off (config perceptual=False)",
            "discriminators": {"D_PB": "image + target heatmaps", "D_PP": "image + source image"},
        }


# --------------------------------------------------------------------------------------
# The PATN generator


def _branch(in_ch: int, out_ch: int, norm: str, dropout: bool, final_norm: bool) -> nn.Sequential:
    """pad, conv3x3 in->in, norm, ReLU, [dropout], pad, conv3x3 in->out, [norm] (PATBlock's build_conv_block)."""
    make_norm, bias = norm_layer(norm), conv_bias(norm)
    layers: list[nn.Module] = [nn.ReflectionPad2d(1), nn.Conv2d(in_ch, in_ch, 3, bias=bias), make_norm(in_ch), nn.ReLU(True)]
    if dropout:
        layers.append(nn.Dropout(0.5))
    layers += [nn.ReflectionPad2d(1), nn.Conv2d(in_ch, out_ch, 3, bias=bias)]
    if final_norm:
        layers.append(make_norm(out_ch))
    return nn.Sequential(*layers)


class PATBlock(nn.Module):
    """Pose-attentional transfer block.

    The pose branch's output, through a sigmoid, gates the image branch's residual
    update; the pre-sigmoid pose code concatenated with the new image code is the
    next block's pose input (hence 2·dim input channels from the second block on).
    """

    def __init__(self, dim: int, norm: str, dropout: bool, first: bool):
        super().__init__()
        pose_in = dim if first else 2 * dim
        self.conv_block_stream1 = _branch(dim, dim, norm, dropout, final_norm=True)
        self.conv_block_stream2 = _branch(pose_in, dim, norm, dropout, final_norm=False)

    def forward(self, image: torch.Tensor, pose: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        update = self.conv_block_stream1(image)
        pose_code = self.conv_block_stream2(pose)
        image = image + update * torch.sigmoid(pose_code)
        return image, torch.cat((pose_code, image), 1)


class PATNGenerator(nn.Module):
    """Image stream + pose stream encoders, cascaded PATBlocks, image decoder."""

    def __init__(self, ngf: int = 64, n_blocks: int = 9, norm: str = "batch", dropout: bool = True,
                 pose_channels: int = 2 * NUM_KEYPOINTS, n_down: int = 2):
        super().__init__()
        dim = ngf * 2**n_down
        self.stream1_down = encoder(IMAGE_CHANNELS, ngf, norm, n_down)
        self.stream2_down = encoder(pose_channels, ngf, norm, n_down)
        self.att = nn.ModuleList(PATBlock(dim, norm, dropout, first=i == 0) for i in range(n_blocks))
        self.stream1_up = decoder(ngf, IMAGE_CHANNELS, norm, n_down)
        init_normal(self)

    def forward(self, image: torch.Tensor, poses: torch.Tensor) -> torch.Tensor:
        image, pose = self.stream1_down(image), self.stream2_down(poses)
        for block in self.att:
            image, pose = block(image, pose)
        return self.stream1_up(image)


@dataclass
class PATNConfig(PairGANConfig):
    ngf: int = 64
    n_blocks: int = 9  # define_G hard-codes 9 for both datasets
    dropout: bool = True


PATN_DATASETS: dict[str, dict[str, Any]] = {
    "market": dict(norm="batch", gan_mode="vanilla", lambda_gan=5.0, lambda_l1=10.0, lambda_perceptual=10.0, pool_size=50),
    "deepfashion": dict(norm="instance", gan_mode="lsgan", lambda_gan=5.0, lambda_l1=1.0, lambda_perceptual=1.0, pool_size=0),
}


def patn_generator(config: PATNConfig) -> PATNGenerator:
    return PATNGenerator(scaled(config.ngf, config.width), config.n_blocks, config.norm, config.dropout)


def patn_config(dataset: str, overrides: dict[str, Any]) -> PATNConfig:
    return build_config(PATNConfig, dataset, PATN_DATASETS, overrides)


class PATNModel(PairGANModel):
    name = "patn"

    def __init__(self, config: PATNConfig, dataset: str):
        super().__init__(patn_generator(config), config, dataset)


@MODELS.register(
    "patn",
    ModelCard(
        paper="Zhu et al., Progressive Pose Attention Transfer for Person Image Generation, CVPR 2019",
        year=2019,
        code="https://github.com/tengteng95/Pose-Transfer",
        param_counts={"market": 41_365_763, "deepfashion": 41_358_019},
        generator_builder=lambda dataset="market", **config: patn_generator(patn_config(dataset, config)),
    ),
)
def build_patn(dataset: str = "market", **config: Any) -> PATNModel:
    return PATNModel(patn_config(dataset, config), dataset)
