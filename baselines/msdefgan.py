"""MS-DefGAN: attention-based fusion of several sources (Lathuilière et al., WACV 2020).

Facts from Stephlat/Multi-source-Human-Image-Generation (``conditional_gan.py``
``make_generator`` / ``decoder_Attention`` / ``blockNet`` / ``UpNet`` /
``applyAttentionSingle`` / ``make_discriminator``, ``cmd.py``, ``train.py``,
``gan/gan.py``, ``gan/train.py``, README training command), built on Def-GAN
(:mod:`baselines.defgan`, geometry in :mod:`baselines.layers.deform`).

Notes on the original code, what differs and the open gaps: docs/models/msdefgan.md.
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
from baselines.layers.blocks import DATA_SIZES
from baselines.layers.unet_gan import (
    HEATMAP_SIGMA, IMAGE_CHANNELS, Encoder, PatchDiscriminator, check_config, keras_init, prepare_nn_loss,
    reconstruction_losses, reconstruction_summary, scaled_layouts, shift_keypoints,
)
from bench.cards import ModelCard
from bench.data.keypoints import NUM_KEYPOINTS
from bench.errors import BenchError
from bench.models.base import Batch, PoseTransferModel
from bench.registry import MODELS

FUSIONS = ("attention", "average")
ATTENTION_UPSAMPLES = ("tf1", "bilinear")
CLIP_EPS = 1e-7  # conditional_gan.epsilon
CHANNEL_REDUCTION = 4  # blockNet's channelDepthFactor
AVERAGE_DROPOUT_STEPS = 3


# --------------------------------------------------------------------------------------
# Pose maps: the replaceable pose renderer


class PoseRenderer(nn.Module):
    """Maps keypoints (N, 18, 2) (y, x) to pose maps (N, channels, H, W) for the encoders.

    ``heatmaps`` are the batch's precomputed sigma-6 maps when they match ``size``
    (a renderer may use or ignore them).
    """

    channels: int = NUM_KEYPOINTS

    def forward(self, keypoints: torch.Tensor, size: tuple[int, int], heatmaps: torch.Tensor | None = None) -> torch.Tensor:
        raise NotImplementedError


class GaussianHeatmaps(PoseRenderer):
    """The fixed Gaussian heatmaps of Def-GAN / MS-DefGAN (no parameters)."""

    def __init__(self, sigma: float = HEATMAP_SIGMA):
        super().__init__()
        self.sigma = sigma

    def forward(self, keypoints: torch.Tensor, size: tuple[int, int], heatmaps: torch.Tensor | None = None) -> torch.Tensor:
        if heatmaps is not None and tuple(heatmaps.shape[-2:]) == tuple(size):
            return heatmaps
        from bench.data.pose import heatmaps as render

        return render(keypoints.detach().cpu(), size, self.sigma).to(keypoints.device, keypoints.dtype)

    def extra_repr(self) -> str:
        return f"sigma={self.sigma}"


# --------------------------------------------------------------------------------------
# Attention fusion (reusable: any decoder that fuses K per-source skips)


def upsample2x_tf1(x: torch.Tensor) -> torch.Tensor:
    """x2 bilinear upsampling as TF1 ``resize_bilinear`` (align_corners=False, no half-pixel).

    Output pixel i reads input position i/2: even pixels copy, odd ones average a pixel
    with its successor (the last one with itself).
    """
    def along(t: torch.Tensor, dim: int) -> torch.Tensor:
        n = t.shape[dim]
        succ = torch.cat((t.narrow(dim, 1, n - 1), t.narrow(dim, n - 1, 1)), dim)
        return torch.stack((t, 0.5 * (t + succ)), dim + 1).flatten(dim, dim + 1)

    return along(along(x, 2), 3)


def upsample_attention(x: torch.Tensor, mode: str) -> torch.Tensor:
    if mode == "tf1":
        return upsample2x_tf1(x)
    if mode == "bilinear":
        return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
    if mode == "nearest":
        return F.interpolate(x, scale_factor=2, mode="nearest")
    raise BenchError(f"unknown attention upsampling {mode!r}; choose one of {', '.join(ATTENTION_UPSAMPLES)}")


def normalise_over_sources(attention: torch.Tensor, eps: float = CLIP_EPS) -> torch.Tensor:
    """(B, K, C, h, w) raw maps -> clipped to [eps, 1 - eps] and divided by their sum over K."""
    clipped = attention.clamp(eps, 1 - eps)
    return clipped / clipped.sum(dim=1, keepdim=True)


def fuse(weights: torch.Tensor, skips: torch.Tensor) -> torch.Tensor:
    """Attention-weighted sum over sources: (B, K, C or 1, h, w) x (B, K, C, h, w) -> (B, C, h, w)."""
    return (weights * skips).sum(dim=1)


class SourceAttention(nn.Module):
    """``blockNet``: spatial map (k x k conv to 1, sigmoid) x channel vector (IN, GAP, Dense C/4, Dense C)."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int = 1, channel_attention: bool = True):
        super().__init__()
        if kernel % 2 != 1:
            raise BenchError(f"attention kernel must be odd ('same' padding), got {kernel}")
        self.channel_attention = channel_attention
        self.out_channels = out_channels
        self.spatial = nn.Conv2d(in_channels, 1, kernel, padding=kernel // 2)
        self.norm = deform.ScalarInstanceNorm()
        hidden = max(1, out_channels // CHANNEL_REDUCTION)
        self.squeeze = nn.Linear(in_channels, hidden)
        self.excite = nn.Linear(hidden, out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        spatial = torch.sigmoid(self.spatial(x))
        if not self.channel_attention:  # --use3D 0: the Dense layers exist but their output is replaced by 1
            return spatial.expand(-1, self.out_channels, -1, -1)
        pooled = self.norm(x).mean(dim=(2, 3))
        channel = torch.sigmoid(self.excite(torch.relu(self.squeeze(pooled))))
        return spatial * channel[:, :, None, None]


class UpsampledAttention(nn.Module):
    """``UpNet``: levels at or past ``dmax`` refine the upsampled previous attention (3x3 conv to 1, sigmoid)."""

    def __init__(self, in_channels: int):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, 1, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.conv(x))


def _per_source(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Apply a module to (B, K, ...) by folding the sources into the batch."""
    b, k = x.shape[:2]
    out = module(x.reshape(b * k, *x.shape[2:]))
    return out.reshape(b, k, *out.shape[1:])


def _up_step(in_ch: int, out_ch: int, dropout: bool = False) -> nn.Sequential:
    """Decoder ``block(down=False)`` of MS-DefGAN: ReLU, nearest x2, 3x3 conv (bias), scalar IN."""
    layers: list[nn.Module] = [nn.ReLU(), nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(in_ch, out_ch, 3, 1, 1),
                               deform.ScalarInstanceNorm()]
    if dropout:
        layers.append(nn.Dropout(0.5))
    return nn.Sequential(*layers)


class AttentionFusionDecoder(nn.Module):
    """``decoder_Attention``: a U-Net decoder whose every level fuses K sources' skips by attention.

    ``skip_channels`` and ``decoder_channels`` are deepest first; ``forward`` takes the
    skips as a list of (B, K, C_d, h_d, w_d) tensors and returns the image and the
    normalised attention of each level, (B, K, C_d or 1, h_d, w_d).
    """

    def __init__(self, skip_channels: tuple[int, ...], decoder_channels: tuple[int, ...], dmax: int = 6,
                 kernel: int = 1, channel_attention: bool = True, upsample: str = "tf1"):
        super().__init__()
        if len(skip_channels) != len(decoder_channels):
            raise ValueError("one decoder step per skip level")
        if dmax < 1:
            raise BenchError(f"dmax must be >= 1 (level 0 has no previous attention), got {dmax}")
        if upsample not in ATTENTION_UPSAMPLES:
            raise BenchError(f"unknown attention_upsample {upsample!r}; choose one of {', '.join(ATTENTION_UPSAMPLES)}")
        self.dmax, self.upsample = dmax, upsample
        attention, steps = [], []
        previous_out, previous_att = skip_channels[0], 0  # level 0: out = mean of the skips
        for d, (skip, out_ch) in enumerate(zip(skip_channels, decoder_channels)):
            if d == 0:
                attention.append(SourceAttention(previous_out + skip, skip, kernel, channel_attention))
                previous_att = skip
            elif d < dmax:
                attention.append(SourceAttention(previous_out + skip + previous_att, skip, kernel, channel_attention))
                previous_att = skip
            else:
                attention.append(UpsampledAttention(previous_att))
                previous_att = 1
            last = d == len(skip_channels) - 1
            steps.append(nn.Sequential(nn.ReLU(), nn.Conv2d(previous_out + skip, out_ch, 3, 1, 1)) if last
                         else _up_step(previous_out + skip, out_ch))
            previous_out = out_ch
        self.attention = nn.ModuleList(attention)
        self.steps = nn.ModuleList(steps)

    def forward(self, skips: list[torch.Tensor]) -> tuple[torch.Tensor, list[torch.Tensor]]:
        out = skips[0].mean(dim=1)
        previous: torch.Tensor | None = None
        maps = []
        for d, (skip, attend, step) in enumerate(zip(skips, self.attention, self.steps)):
            k = skip.shape[1]
            if d == 0:
                inputs = torch.cat((out.unsqueeze(1).expand(-1, k, -1, -1, -1), skip), 2)
            else:
                mode = self.upsample if d < self.dmax else "nearest"
                previous = _per_source(lambda a: upsample_attention(a, mode), previous)
                inputs = (torch.cat((out.unsqueeze(1).expand(-1, k, -1, -1, -1), skip, previous), 2)
                          if d < self.dmax else previous)
            weights = normalise_over_sources(_per_source(attend, inputs))
            maps.append(weights)
            previous = weights
            out = step(torch.cat((out, fuse(weights, skip)), 1))
        return torch.tanh(out), maps


class AverageFusionDecoder(nn.Module):
    """``--fusion_type avg``: mean of the sources' skips, Def-GAN's decoder with upsample + conv steps."""

    def __init__(self, skip_channels: tuple[int, ...], decoder_channels: tuple[int, ...]):
        super().__init__()
        steps, previous = [], 0
        for d, (skip, out_ch) in enumerate(zip(skip_channels, decoder_channels)):
            if d == len(skip_channels) - 1:
                steps.append(nn.Sequential(nn.ReLU(), nn.Conv2d(previous + skip, out_ch, 3, 1, 1)))
            else:
                steps.append(_up_step(previous + skip, out_ch, dropout=d < AVERAGE_DROPOUT_STEPS))
            previous = out_ch
        self.steps = nn.ModuleList(steps)

    def forward(self, skips: list[torch.Tensor]) -> tuple[torch.Tensor, list[torch.Tensor]]:
        fused = [s.mean(dim=1) for s in skips]
        out = self.steps[0](fused[0])
        for step, skip in zip(self.steps[1:], fused[1:]):
            out = step(torch.cat((out, skip), 1))
        return torch.tanh(out), []


# --------------------------------------------------------------------------------------
# Generator


class MSDefGANGenerator(nn.Module):
    """Shared per-source encoders + deformable skips + a fusion decoder, for any number of sources."""

    def __init__(self, encoder_channels: tuple[int, ...], decoder_channels: tuple[int, ...], fusion: str = "attention",
                 dmax: int = 6, attention_kernel: int = 1, channel_attention: bool = True, attention_upsample: str = "tf1",
                 deformable_levels: int = 4, warp_mode: str = "nearest", pose_renderer: PoseRenderer | None = None):
        super().__init__()
        if fusion not in FUSIONS:
            raise BenchError(f"unknown fusion {fusion!r}; choose one of {', '.join(FUSIONS)}")
        self.pose_renderer = pose_renderer if pose_renderer is not None else GaussianHeatmaps()
        pose_ch = self.pose_renderer.channels
        self.depth = len(encoder_channels)
        self.deformable_levels, self.warp_mode = deformable_levels, warp_mode
        self.appearance = Encoder(IMAGE_CHANNELS + pose_ch, encoder_channels)
        self.pose = Encoder(2 * pose_ch, encoder_channels)
        skips = tuple(2 * c for c in encoder_channels[::-1])
        self.decoder = (AttentionFusionDecoder(skips, decoder_channels, dmax, attention_kernel, channel_attention, attention_upsample)
                        if fusion == "attention" else AverageFusionDecoder(skips, decoder_channels))
        keras_init(self, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear))  # Keras defaults, Dense layers too

    def forward(self, sources: torch.Tensor, source_keypoints: torch.Tensor, target_keypoints: torch.Tensor,
                transforms: torch.Tensor, masks: torch.Tensor, source_maps: torch.Tensor | None = None,
                target_maps: torch.Tensor | None = None, return_attention: bool = False):
        """``sources`` (B, K, 3, H, W); keypoints (B, K, 18, 2) / (B, 18, 2); ``transforms``
        (B, K, 10, 3, 3) source_k <- target backward maps and ``masks`` (B, 10, H, W), both at
        image level; ``source_maps`` / ``target_maps`` optional precomputed heatmaps."""
        b, k = sources.shape[:2]
        size = tuple(sources.shape[-2:])
        if any(s % 2 ** (self.depth - 1) for s in size):
            raise BenchError(f"MS-DefGAN with {self.depth} levels needs sides divisible by {2 ** (self.depth - 1)}, got {size}")
        flat = lambda t: None if t is None else t.reshape(b * k, *t.shape[2:])  # noqa: E731
        src_maps = self.pose_renderer(flat(source_keypoints), size, flat(source_maps))
        tgt_maps = self.pose_renderer(target_keypoints, size, target_maps)
        tgt_maps = tgt_maps.unsqueeze(1).expand(b, k, *tgt_maps.shape[1:]).reshape(b * k, *tgt_maps.shape[1:])
        appearance = self.appearance(torch.cat((flat(sources), src_maps), 1))
        pose = self.pose(torch.cat((src_maps, tgt_maps), 1))
        masks = masks.unsqueeze(1).expand(b, k, *masks.shape[1:]).reshape(b * k, *masks.shape[1:])
        skips = []
        for level, (app, tgt) in enumerate(zip(appearance, pose)):
            if level < self.deformable_levels:
                app = deform.deformable_skip(app, flat(transforms), masks, size, self.warp_mode)
            skip = torch.cat((app, tgt), 1)
            skips.append(skip.reshape(b, k, *skip.shape[1:]))
        image, attention = self.decoder(skips[::-1])
        return (image, attention) if return_attention else image


# --------------------------------------------------------------------------------------
# The trainable model


@dataclass
class MSDefGANConfig:
    width: float = 1.0  # multiplies every channel count except the 3 output channels (< 1: CPU tests)
    fusion: str = "attention"  # "attention" (--fusion_type att_dec_rec) or "average" (avg)
    dmax: int = 6  # --dmax: levels from dmax on refine the upsampled attention (UpNet)
    attention_kernel: int = 1  # --kernel_size_last
    channel_attention: bool = True  # --use3D
    attention_upsample: str = "tf1"  # previous attention x2: "tf1" (Keras 2.2 bilinear) or "bilinear" (half-pixel)
    canvas: tuple[int, int] | None = None  # generator input size; None: the data's size
    pad_mode: str = "replicate"
    warp_mode: str = "nearest"
    deformable_levels: int = 4
    reconstruction: str = "nn"  # "nn" (README command), "l1" (pixel L1 x lambda_l1), "none"
    lambda_nn: float = 0.001  # --l1_penalty_weight 0.001 with --content_loss_layer block1_conv2
    nn_window: int = 3
    nn_layer: str = "relu1_2"
    lambda_l1: float = 100.0  # Def-GAN's pixel-L1 weight, used by reconstruction="l1"
    lambda_gan: float = 0.1  # --gan_penalty_weight 0.1 (generator side only)
    weights_dir: str | None = None


MSDEFGAN_DATASETS: dict[str, dict[str, Any]] = {
    "market": dict(nn_window=3),
    "deepfashion": dict(nn_window=5, canvas=(256, 256)),  # no published command: Def-GAN's window and frame
}
TRAINING = {
    "market": dict(batch_size=4, iterations=12_000, sources=3, lr_g=2e-4, lr_d=2e-4, betas=(0.5, 0.999), d_steps=1),
    "deepfashion": "not published (README gives the Market command only)",
}


def msdefgan_config(dataset: str, overrides: dict[str, Any]) -> MSDefGANConfig:
    cfg = build_config(MSDefGANConfig, dataset, MSDEFGAN_DATASETS, overrides)
    check_config(cfg)
    return cfg


def msdefgan_generator(config: MSDefGANConfig, dataset: str, pose_renderer: PoseRenderer | None = None) -> MSDefGANGenerator:
    canvas = tuple(config.canvas) if config.canvas else DATA_SIZES[dataset]
    enc, dec = scaled_layouts(canvas, config.width)
    return MSDefGANGenerator(enc, dec, config.fusion, config.dmax, config.attention_kernel, config.channel_attention,
                             config.attention_upsample, config.deformable_levels, config.warp_mode, pose_renderer)


def as_multi_source(batch: Batch) -> Batch:
    """A batch with a source axis: single-source (B, 3, H, W) batches become K = 1."""
    if batch["source"].dim() == 5:
        return batch
    if batch["source"].dim() != 4:
        raise BenchError(f"source must be (B, 3, H, W) or (B, K, 3, H, W), got {tuple(batch['source'].shape)}")
    out = dict(batch)
    for key in ("source", "source_pose", "source_keypoints"):
        out[key] = torch.as_tensor(batch[key]).unsqueeze(1)
    return out


class MSDefGANModel(PoseTransferModel):
    name = "msdefgan"

    def __init__(self, config: MSDefGANConfig, dataset: str, pose_renderer: PoseRenderer | None = None):
        super().__init__()
        from bench.train.losses import GANLoss

        self.config, self.dataset = config, dataset
        self.canvas = tuple(config.canvas) if config.canvas else DATA_SIZES[dataset]
        self.generator = msdefgan_generator(config, dataset, pose_renderer)
        self.discriminators = nn.ModuleDict({"D": PatchDiscriminator(ndf=scaled(64, config.width))})
        self.gan_loss = GANLoss("vanilla", with_logits=True)

    # -- generation -------------------------------------------------------------------

    def generator_inputs(self, batch: Batch) -> tuple[dict[str, Any], tuple[int, int]]:
        """Generator keyword inputs on the canvas, and the (left, right) column pads to crop off."""
        batch = as_multi_source(batch)
        sources = batch["source"]
        b, k, _, height, width = sources.shape
        canvas_h, canvas_w = self.canvas
        if canvas_h != height or canvas_w < width:
            raise BenchError(f"{self.name}: images of {height}x{width} do not fit the {canvas_h}x{canvas_w} canvas "
                             "(only widening is supported)")
        left = (canvas_w - width) // 2
        right = canvas_w - width - left
        src_kp = shift_keypoints(batch["source_keypoints"], left)
        tgt_kp = shift_keypoints(batch["target_keypoints"], left)
        source_maps, target_maps = batch.get("source_pose"), batch.get("target_pose")
        if left or right:  # the batch's heatmaps are for the data frame: the renderer redraws them on the canvas
            sources = F.pad(sources.reshape(b * k, *sources.shape[2:]), (left, right, 0, 0), mode=self.config.pad_mode)
            sources = sources.reshape(b, k, *sources.shape[1:])
            source_maps = target_maps = None
        transforms = deform.part_transforms(src_kp.reshape(b * k, *src_kp.shape[2:]), tgt_kp.repeat_interleave(k, 0))
        device = sources.device
        inputs = dict(
            sources=sources,
            source_keypoints=src_kp.to(device, sources.dtype),
            target_keypoints=tgt_kp.to(device, sources.dtype),
            transforms=torch.from_numpy(transforms).reshape(b, k, *transforms.shape[1:]).to(device),
            masks=torch.from_numpy(deform.part_masks(tgt_kp, self.canvas)).to(device, sources.dtype),
            source_maps=source_maps,
            target_maps=target_maps,
        )
        return inputs, (left, right)

    def forward(self, batch: Batch, return_attention: bool = False):
        """The generated image; with ``return_attention`` also each decoder level's fusion
        weights (B, K, C or 1, h, w), on the canvas (not cropped)."""
        inputs, (left, right) = self.generator_inputs(batch)
        image, attention = self.generator(**inputs, return_attention=True)
        image = image[..., left:image.shape[-1] - right]
        return (image, attention) if return_attention else image

    # -- losses -----------------------------------------------------------------------

    def discriminate(self, batch: Batch, image: torch.Tensor) -> torch.Tensor:
        """The patch D on every (source_k, source pose_k, image, target pose): logits (B, K, h, w)."""
        batch = as_multi_source(batch)
        sources, poses = batch["source"], batch["source_pose"]
        b, k = sources.shape[:2]
        per_source = torch.cat((sources, poses, image.unsqueeze(1).expand(b, k, *image.shape[1:]),
                                batch["target_pose"].unsqueeze(1).expand(b, k, *batch["target_pose"].shape[1:])), 2)
        out = self.discriminators["D"](per_source.reshape(b * k, *per_source.shape[2:]))
        return out.reshape(b, k, *out.shape[2:])

    def prepare_losses(self) -> None:
        prepare_nn_loss(self)

    def generator_losses(self, batch: Batch, fake: torch.Tensor) -> dict[str, torch.Tensor]:
        cfg, target = self.config, batch["target"]
        losses = {"gan": cfg.lambda_gan * self.gan_loss(self.discriminate(batch, fake), True)}
        return {**losses, **reconstruction_losses(self, fake, target)}

    def discriminator_losses(self, batch: Batch, fake: torch.Tensor) -> dict[str, torch.Tensor]:
        return {
            "D/real": self.gan_loss(self.discriminate(batch, batch["target"]), True),
            "D/fake": self.gan_loss(self.discriminate(batch, fake.detach()), False),
        }

    def metadata(self) -> dict[str, Any]:
        cfg = self.config
        recon, recon_terms = reconstruction_summary(cfg)
        return {
            "model": self.name,
            "dataset": self.dataset,
            "config": dataclasses.asdict(cfg),
            "fusion": cfg.fusion,
            "sources": "any K, read from the batch (single-source batches run as K = 1)",
            "pose_renderer": type(self.generator.pose_renderer).__name__,
            "generator_loss_terms": ["gan"] + recon_terms,
            "reconstruction": recon,
            "canvas": list(self.canvas),
            "resolution_policy": ("generator runs on the data size" if self.canvas == DATA_SIZES[self.dataset] else
                                  f"pad width to {self.canvas[1]} ({cfg.pad_mode}), pose maps/transforms/masks on the canvas, crop back"),
            "training_in_original": TRAINING[self.dataset],
        }


def _generator_only(dataset: str = "market", **config: Any) -> MSDefGANGenerator:
    return msdefgan_generator(msdefgan_config(dataset, config), dataset)


@MODELS.register(
    "msdefgan",
    ModelCard(
        paper="Lathuilière et al., WACV 2020",
        title="Attention-based Fusion for Multi-source Human Image Generation",
        year=2020,
        code="https://github.com/Stephlat/Multi-source-Human-Image-Generation",
        multi_source=True,
        generator_builder=_generator_only,
    ),
)
def build_msdefgan(dataset: str = "market", pose_renderer: PoseRenderer | None = None, **config: Any) -> MSDefGANModel:
    return MSDefGANModel(msdefgan_config(dataset, config), dataset, pose_renderer)
