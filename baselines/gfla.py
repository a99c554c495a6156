"""GFLA: Global-Flow Local-Attention (Ren et al., "Deep Image Spatial Transformation for
Person Image Generation", CVPR 2020).

Architecture and objective from the authors' code, RenYurui/Global-Flow-Local-Attention
(``model/networks/generator.py`` PoseGenerator / PoseFlowNet, ``base_function.py``,
``discriminator.py`` ResDiscriminator, ``external_function.py``, ``model/pose_model.py``,
``model/poseflownet_model.py``, ``PERSON_IMAGE_GENERATION.md``). Module names follow the
original, so generator state-dict keys match its ``net_G`` (the D's spectral-norm keys
use PyTorch's parametrization names instead).

Generator (layers 3, ngf 64, img_f 512, 2 blocks; InstanceNorm affine, LeakyReLU(0.1),
no spectral norm; orthogonal init, gain 0.02, zero biases):

* ``source`` encodes the source image, ``target`` the target heatmaps: three encoder
  blocks each (norm, act, conv4x4/2, norm, act, conv3x3), 64/128/256 channels;
* ``flow_net`` (ngf 32, img_f 256) sees source image + source pose + target pose (39 ch):
  5 encoder blocks (32, 64, 128, 256, 256), 3 decoder blocks (ResBlockDecoder plus a
  "jump" conv of the encoder feature at the same scale), and a flow (conv3x3 -> 2) and a
  sigmoid mask (conv3x3 -> 1) at each attention layer: layer 3 = 1/8, layer 2 = 1/4;
* the target decoder (ResBlock + ResBlockDecoder per level, 256 -> 128 -> 64 -> 64, then
  act, reflection-pad, conv3x3, tanh) applies local attention before the level at each
  attention layer: k x k source patches at the flow-shifted point and target patches are
  scored by a conv k x k/k -> 128, act, 1x1 -> k^2, softmax; the weighted patch average
  replaces the target feature where the mask says so, ``(1 - m) t + m a``.

=============  =====================  ============  ===========  ==========
dataset        attention (layer: k)   G params      flow net     D params
=============  =====================  ============  ===========  ==========
market         2: 3                   12,926,471    6,604,753    238,209
deepfashion    3: 3, 2: 5             14,047,395    6,608,212    664,577
=============  =====================  ============  ===========  ==========

Discriminator: unconditional ResDiscriminator (ndf 32, img_f 128, 3 residual down blocks
on Market, 4 on DeepFashion, spectral norm everywhere, no norm layers, LeakyReLU(0.1), a
final 1x1 conv to one channel). Its convs get the same orthogonal init (the original
initialises after wrapping, through ``weight.data``, which shares storage with
``weight_orig``); here the init comes before wrapping, so spectral norm's power-iteration
vectors are computed on the initialised weights.

Losses (weights of the full stage): L1 5, sampling correctness 5 (VGG19 relu4_1 for the
1/8 flow, relu3_1 for the 1/4 flow), LSGAN 2, affine flow regularisation 0.0025 (window =
that layer's attention kernel), VGG19 content 0.5 (L1 on relu1_1..relu5_1) and style 500
(L1 on Gram matrices of relu2_2, relu3_4, relu4_4, relu5_2). The VGG sees [-1, 1] images
without ImageNet normalisation, as the original. D: LSGAN, ``(real + fake) / 2``.

Stages (``stage``): ``"flow"`` trains the flow estimator alone on correctness (20) and
regularisation (0.01), the original's ``poseflownet`` model; its ``forward`` returns the
source warped by the finest flow. ``"full"`` trains everything end to end; set
``flow_init`` to a flow-stage checkpoint to start from its flow net (the original's
``--continue_train``).

VGG19 weights: ``vgg=True`` (default) needs ``vgg19-dcbb9e9d.pth`` and raises
``WeightsMissing`` from :meth:`GFLAModel.prepare_losses` without it; ``vgg=False`` drops
the correctness, content and style terms and :meth:`GFLAModel.metadata` says so.

Resolution policy: the flow net downsamples 5 times, so its input sides must be multiples
of 32. DeepFashion's 256x176 is padded to 256x192 for the flow net only (image: border
replication, heatmaps: zeros; 8 columns each side), and its flows and masks are cropped
back to the 1/8 and 1/4 grids of the unpadded image (the pads are multiples of 8, so the
crop is exact and the pixel displacements are unchanged). The image encoders and decoder
run at 256x176 (3 downsamplings). The original resized DeepFashion to 256x256 instead.
Parameter counts do not depend on the resolution. Market 128x64 needs no padding.

Optimisation in the original (:data:`TRAINING`): Adam lr 1e-4, betas (0, 0.999) for G;
D lr 1e-5 (ratio 0.1); batch 8; constant LR until stopped; per iteration D is stepped
before G (this harness's trainer steps G first).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from baselines.layers.blocks import DATA_SIZES, build_config, scaled
from baselines.layers.flow import affine_regularization, block_extractor, local_attn_reshape, sampling_correctness, warp
from bench.cards import ModelCard
from bench.data.keypoints import NUM_KEYPOINTS
from bench.errors import BenchError, DataError
from bench.models.base import Batch, PoseTransferModel
from bench.registry import MODELS

IMAGE_CHANNELS = 3
LEAKY_SLOPE = 0.1
INIT_GAIN = 0.02
ATTN_HIDDEN = 128
FLOW_DOWNSAMPLING = 32  # 5 stride-2 encoder blocks
STAGES = ("flow", "full")
#: Attention layer -> VGG19 layer of the correctness loss (PerceptualCorrectness.layer).
CORRECTNESS_LAYERS = {1: "relu2_1", 2: "relu3_1", 3: "relu4_1"}
CONTENT_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
STYLE_LAYERS = ("relu2_2", "relu3_4", "relu4_4", "relu5_2")


# --------------------------------------------------------------------------------------
# Building blocks (base_function.py)


def _act() -> nn.Module:
    return nn.LeakyReLU(LEAKY_SLOPE)


def _norm(channels: int) -> nn.Module:
    return nn.InstanceNorm2d(channels, affine=True)


def _conv(cin: int, cout: int, k: int, stride: int = 1, padding: int = 0) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, k, stride, padding)


def _up(cin: int, cout: int) -> nn.ConvTranspose2d:
    return nn.ConvTranspose2d(cin, cout, 3, stride=2, padding=1, output_padding=1)


class EncoderBlock(nn.Module):
    """norm, act, conv4x4 stride 2, norm, act, conv3x3."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.model = nn.Sequential(_norm(cin), _act(), _conv(cin, cout, 4, 2, 1), _norm(cout), _act(), _conv(cout, cout, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class ResBlock(nn.Module):
    """x + (norm, act, conv3x3, norm, act, conv3x3)(x); same channels, identity shortcut."""

    def __init__(self, channels: int):
        super().__init__()
        c = channels
        self.model = nn.Sequential(_norm(c), _act(), _conv(c, c, 3, 1, 1), _norm(c), _act(), _conv(c, c, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x) + x


class ResBlocks(nn.Module):
    def __init__(self, num_blocks: int, channels: int):
        super().__init__()
        self.model = nn.Sequential(*(ResBlock(channels) for _ in range(num_blocks)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class ResBlockDecoder(nn.Module):
    """(norm, act, conv3x3, norm, act, deconv3x3/2)(x) + deconv3x3/2(x): doubles the size."""

    def __init__(self, cin: int, cout: int, hidden: int | None = None):
        super().__init__()
        h = cin if hidden is None else hidden
        self.model = nn.Sequential(_norm(cin), _act(), _conv(cin, h, 3, 1, 1), _norm(h), _act(), _up(h, cout))
        self.shortcut = nn.Sequential(_up(cin, cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x) + self.shortcut(x)


class Jump(nn.Module):
    """act, reflection pad, conv3x3: the flow net's skip from the encoder."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv1 = _conv(cin, cout, 3)
        self.model = nn.Sequential(_act(), nn.ReflectionPad2d(1), self.conv1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class Output(nn.Module):
    """act, reflection pad, conv3x3, tanh."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv1 = _conv(cin, cout, 3)
        self.model = nn.Sequential(_act(), nn.ReflectionPad2d(1), self.conv1, nn.Tanh())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class ExtractorAttn(nn.Module):
    """Local attention: softmax weights over the k x k source patch at the flow-shifted point."""

    def __init__(self, channels: int, kernel_size: int, hidden: int = ATTN_HIDDEN):
        super().__init__()
        k = self.kernel_size = kernel_size
        self.fully_connect_layer = nn.Sequential(
            nn.Conv2d(2 * channels, hidden, k, stride=k), _act(), nn.Conv2d(hidden, k * k, 1), nn.Softmax(dim=1),
        )

    def forward(self, source: torch.Tensor, target: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
        k = self.kernel_size
        source_patches = block_extractor(source, flow, k)
        target_patches = block_extractor(target, torch.zeros_like(flow), k)
        weights = self.fully_connect_layer(torch.cat((target_patches, source_patches), 1))
        # avg_pool carries a 1/k^2 factor on the softmax-weighted sum, as in the original.
        return F.avg_pool2d(local_attn_reshape(weights, k) * source_patches, k, k)


def _channels(ngf: int, img_f: int, level: int) -> int:
    """``ngf * min(2**level, img_f // ngf)``: the original's channel rule."""
    return ngf * min(2**level, img_f // ngf)


# --------------------------------------------------------------------------------------
# Networks (generator.py)


class PoseSourceNet(nn.Module):
    """Encoder of the source image; returns its features deepest first (then the image)."""

    def __init__(self, cin: int, ngf: int, img_f: int, layers: int):
        super().__init__()
        self.layers = layers
        self.block0 = EncoderBlock(cin, ngf)
        for i in range(layers - 1):
            setattr(self, f"encoder{i}", EncoderBlock(_channels(ngf, img_f, i), _channels(ngf, img_f, i + 1)))

    def forward(self, source: torch.Tensor) -> list[torch.Tensor]:
        features = [source, self.block0(source)]
        for i in range(self.layers - 1):
            features.append(getattr(self, f"encoder{i}")(features[-1]))
        return features[::-1]


class PoseFlowNet(nn.Module):
    """Flow fields and masks at the attention layers, deepest first."""

    def __init__(self, cin: int, ngf: int = 32, img_f: int = 256, encoder_layers: int = 5,
                 attn_layers: tuple[int, ...] = (2, 3)):
        super().__init__()
        self.encoder_layers = encoder_layers
        self.attn_layers = tuple(attn_layers)
        self.decoder_layers = encoder_layers - min(attn_layers)
        self.block0 = EncoderBlock(cin, ngf)
        for i in range(encoder_layers - 1):
            setattr(self, f"encoder{i}", EncoderBlock(_channels(ngf, img_f, i), _channels(ngf, img_f, i + 1)))
        for i in range(self.decoder_layers):
            cin_i = _channels(ngf, img_f, encoder_layers - 1 - i)
            cout = _channels(ngf, img_f, encoder_layers - 2 - i)
            setattr(self, f"decoder{i}", ResBlockDecoder(cin_i, cout, cout))
            setattr(self, f"jump{i}", Jump(cout, cout))
            if self._layer(i) in self.attn_layers:
                setattr(self, f"output{i}", _conv(cout, 2, 3, 1, 1))
                setattr(self, f"mask{i}", nn.Sequential(_conv(cout, 1, 3, 1, 1), nn.Sigmoid()))

    def _layer(self, i: int) -> int:
        """Attention layer of decoder step ``i`` (its output is at 1/2**layer)."""
        return self.encoder_layers - i - 1

    def forward(self, source: torch.Tensor, source_pose: torch.Tensor,
                target_pose: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        out = self.block0(torch.cat((source, source_pose, target_pose), 1))
        skips = [out]
        for i in range(self.encoder_layers - 1):
            out = getattr(self, f"encoder{i}")(out)
            skips.append(out)
        flows, masks = [], []
        for i in range(self.decoder_layers):
            out = getattr(self, f"decoder{i}")(out) + getattr(self, f"jump{i}")(skips[self.encoder_layers - i - 2])
            if self._layer(i) in self.attn_layers:
                flows.append(getattr(self, f"output{i}")(out))
                masks.append(getattr(self, f"mask{i}")(out))
        return flows, masks


class PoseTargetNet(nn.Module):
    """Target-pose encoder and the decoder with local attention on the source features."""

    def __init__(self, pose_channels: int, out_channels: int, ngf: int, img_f: int, layers: int, num_blocks: int,
                 attention: dict[int, int], attn_hidden: int):
        super().__init__()
        self.layers = layers
        self.attention = dict(attention)
        self.block0 = EncoderBlock(pose_channels, ngf)
        for i in range(layers - 1):
            setattr(self, f"encoder{i}", EncoderBlock(_channels(ngf, img_f, i), _channels(ngf, img_f, i + 1)))
        for i in range(layers):
            cin = _channels(ngf, img_f, layers - 1 - i)
            cout = _channels(ngf, img_f, layers - 2 - i) if i != layers - 1 else ngf
            steps: list[nn.Module] = [ResBlocks(num_blocks - 1, cin)] if num_blocks > 1 else []
            setattr(self, f"decoder{i}", nn.Sequential(*steps, ResBlockDecoder(cin, cout)))
            if layers - i in self.attention:
                setattr(self, f"attn{i}", ExtractorAttn(cin, self.attention[layers - i], attn_hidden))
        self.outconv = Output(ngf, out_channels)

    def forward(self, target_pose: torch.Tensor, source_features: list[torch.Tensor],
                flows: list[torch.Tensor], masks: list[torch.Tensor]) -> torch.Tensor:
        out = self.block0(target_pose)
        for i in range(self.layers - 1):
            out = getattr(self, f"encoder{i}")(out)
        used = 0
        for i in range(self.layers):
            if self.layers - i in self.attention:
                attended = getattr(self, f"attn{i}")(source_features[i], out, flows[used])
                out = out * (1 - masks[used]) + attended * masks[used]
                used += 1
            out = getattr(self, f"decoder{i}")(out)
        return self.outconv(out)


def flow_padding(size: tuple[int, int]) -> tuple[int, int, int, int]:
    """(left, right, top, bottom) pads that make ``size`` a multiple of 32, each a multiple of 8.

    Multiples of 8 keep the crop back to the 1/8 and 1/4 grids exact.
    """
    pads = []
    for side in (size[1], size[0]):
        if side % 8:
            raise BenchError(f"GFLA needs image sides divisible by 8 (3 encoder downsamplings); got {size}")
        total = -side % FLOW_DOWNSAMPLING
        first = total // 16 * 8
        pads += [first, total - first]
    return tuple(pads)  # type: ignore[return-value]


def run_flow_net(flow_net: PoseFlowNet, source: torch.Tensor, source_pose: torch.Tensor, target_pose: torch.Tensor,
                 pad_mode: str = "replicate") -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """The flow net on an input padded to multiples of 32, its outputs cropped back (see module doc)."""
    left, right, top, bottom = flow_padding(tuple(source.shape[-2:]))
    if not (left or right or top or bottom):
        return flow_net(source, source_pose, target_pose)
    pad = (left, right, top, bottom)
    flows, masks = flow_net(F.pad(source, pad, mode=pad_mode), F.pad(source_pose, pad), F.pad(target_pose, pad))
    height, width = source.shape[-2:]

    def crop(x: torch.Tensor) -> torch.Tensor:
        s = (height + top + bottom) // x.shape[-2]  # this output's downsampling factor
        return x[..., top // s: (top + height) // s, left // s: (left + width) // s]

    return [crop(f) for f in flows], [crop(m) for m in masks]


class GFLAGenerator(nn.Module):
    """PoseGenerator: source encoder, flow estimator, target decoder with local attention."""

    def __init__(self, ngf: int = 64, img_f: int = 512, layers: int = 3, num_blocks: int = 2,
                 attention: dict[int, int] | None = None, flow_ngf: int = 32, flow_img_f: int = 256,
                 flow_layers: int = 5, attn_hidden: int = ATTN_HIDDEN, pad_mode: str = "replicate"):
        super().__init__()
        attention = {3: 3, 2: 5} if attention is None else dict(attention)
        self.pad_mode = pad_mode
        self.source = PoseSourceNet(IMAGE_CHANNELS, ngf, img_f, layers)
        self.target = PoseTargetNet(NUM_KEYPOINTS, IMAGE_CHANNELS, ngf, img_f, layers, num_blocks, attention, attn_hidden)
        self.flow_net = PoseFlowNet(IMAGE_CHANNELS + 2 * NUM_KEYPOINTS, flow_ngf, flow_img_f, flow_layers, tuple(attention))
        init_orthogonal(self)

    def forward(self, source: torch.Tensor, source_pose: torch.Tensor,
                target_pose: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor]]:
        """(image, flows, masks); flows/masks deepest first, as the attention layers use them."""
        features = self.source(source)
        flows, masks = run_flow_net(self.flow_net, source, source_pose, target_pose, self.pad_mode)
        return self.target(target_pose, features, flows, masks), flows, masks


class GFLAFlowGenerator(nn.Module):
    """Stage 1 (PoseFlowNetGenerator): the flow estimator alone; the image is the warped source."""

    def __init__(self, attention: dict[int, int] | None = None, flow_ngf: int = 32, flow_img_f: int = 256,
                 flow_layers: int = 5, pad_mode: str = "replicate"):
        super().__init__()
        attention = {3: 3, 2: 5} if attention is None else dict(attention)
        self.pad_mode = pad_mode
        self.flow_net = PoseFlowNet(IMAGE_CHANNELS + 2 * NUM_KEYPOINTS, flow_ngf, flow_img_f, flow_layers, tuple(attention))
        init_orthogonal(self)

    def forward(self, source: torch.Tensor, source_pose: torch.Tensor,
                target_pose: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor]]:
        flows, masks = run_flow_net(self.flow_net, source, source_pose, target_pose, self.pad_mode)
        return warp_to_image(source, flows[-1]), flows, masks


def warp_to_image(source: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """``source`` warped by a coarse flow, upsampled bilinearly (values scaled to full-size pixels)."""
    scale_y, scale_x = source.shape[-2] / flow.shape[-2], source.shape[-1] / flow.shape[-1]
    full = F.interpolate(flow, size=source.shape[-2:], mode="bilinear", align_corners=False)
    full = full * torch.tensor([scale_x, scale_y], dtype=flow.dtype, device=flow.device).view(1, 2, 1, 1)
    return warp(source, full)


def init_orthogonal(module: nn.Module, gain: float = INIT_GAIN) -> nn.Module:
    """The original's ``init_weights('orthogonal')``: conv weights orthogonal (gain 0.02), biases 0.

    Norm layers keep weight 1 / bias 0 (the original only touches BatchNorm, not
    InstanceNorm). Meta tensors (parameter counting without memory) are skipped.
    """
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)) and not m.weight.is_meta:
            nn.init.orthogonal_(m.weight, gain=gain)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return module


# --------------------------------------------------------------------------------------
# Discriminator (discriminator.py)


def _spectral(conv: nn.Conv2d) -> nn.Module:
    return nn.utils.parametrizations.spectral_norm(init_orthogonal(conv))


class ResBlockEncoder(nn.Module):
    """(act, conv3x3, act, conv4x4/2)(x) + conv1x1(avgpool2(x)), spectral norm, no norm layers."""

    def __init__(self, cin: int, cout: int, hidden: int):
        super().__init__()
        conv1, conv2 = _spectral(_conv(cin, hidden, 3, 1, 1)), _spectral(_conv(hidden, cout, 4, 2, 1))
        self.model = nn.Sequential(_act(), conv1, _act(), conv2)
        self.shortcut = nn.Sequential(nn.AvgPool2d(2, 2), _spectral(_conv(cin, cout, 1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x) + self.shortcut(x)


class ResDiscriminator(nn.Module):
    def __init__(self, cin: int = IMAGE_CHANNELS, ndf: int = 32, img_f: int = 128, layers: int = 4):
        super().__init__()
        self.layers = layers
        self.block0 = ResBlockEncoder(cin, ndf, ndf)
        for i in range(layers - 1):
            prev, cur = _channels(ndf, img_f, i), _channels(ndf, img_f, i + 1)
            setattr(self, f"encoder{i}", ResBlockEncoder(prev, cur, prev))
        self.nonlinearity = _act()
        self.conv = _spectral(nn.Conv2d(_channels(ndf, img_f, layers - 1), 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.block0(x)
        for i in range(self.layers - 1):
            out = getattr(self, f"encoder{i}")(out)
        return self.conv(self.nonlinearity(out))


# --------------------------------------------------------------------------------------
# Configuration


@dataclass
class GFLAConfig:
    stage: str = "full"  # "flow": flow estimator alone (stage 1); "full": end to end
    width: float = 1.0  # multiplies every channel count (< 1 only for small CPU test models)
    ngf: int = 64
    img_f: int = 512
    layers: int = 3
    num_blocks: int = 2
    attention: dict[int, int] = field(default_factory=lambda: {3: 3, 2: 5})  # attention layer -> kernel size
    flow_ngf: int = 32
    flow_img_f: int = 256
    flow_layers: int = 5
    ndf: int = 32
    d_img_f: int = 128
    d_layers: int = 4
    pad_mode: str = "replicate"  # how the flow net's image input is widened to a multiple of 32
    gan_mode: str = "lsgan"
    lambda_l1: float = 5.0
    lambda_gan: float = 2.0
    lambda_content: float = 0.5
    lambda_style: float = 500.0
    lambda_correct: float | None = None  # None: 5 (full) / 20 (flow), as the original's two stages
    lambda_regularization: float | None = None  # None: 0.0025 (full) / 0.01 (flow)
    vgg: bool = True  # correctness, content and style terms (need VGG19 weights)
    weights_dir: str | None = None  # folder with vgg19-dcbb9e9d.pth (else $BENCH_WEIGHTS_DIR / torch hub cache)
    flow_init: str | None = None  # full stage: a flow-stage checkpoint whose flow net to start from

    def __post_init__(self) -> None:
        if self.stage not in STAGES:
            raise BenchError(f"unknown GFLA stage {self.stage!r}; choose one of {', '.join(STAGES)}")
        self.attention = {int(layer): int(k) for layer, k in dict(self.attention).items()}
        bad = [layer for layer in self.attention if layer not in CORRECTNESS_LAYERS or layer > self.layers]
        if not self.attention or bad:
            raise BenchError(f"GFLA attention layers must be among 1..{self.layers}; got {sorted(self.attention)}")
        if self.pad_mode not in ("replicate", "constant", "reflect"):
            raise BenchError(f"unknown pad_mode {self.pad_mode!r}; choose replicate, constant or reflect")

    @property
    def correct_weight(self) -> float:
        if self.lambda_correct is not None:
            return self.lambda_correct
        return 20.0 if self.stage == "flow" else 5.0

    @property
    def regularization_weight(self) -> float:
        if self.lambda_regularization is not None:
            return self.lambda_regularization
        return 0.01 if self.stage == "flow" else 0.0025


GFLA_DATASETS: dict[str, dict[str, Any]] = {
    # PERSON_IMAGE_GENERATION.md: --attn_layer=2 --kernel_size=2=3 / --attn_layer=2,3 --kernel_size=2=5,3=3
    "market": dict(attention={2: 3}, d_layers=3),
    "deepfashion": dict(attention={3: 3, 2: 5}, d_layers=4),
}
#: The original's optimisation (model/pose_model.py, options/*.py); both stages and datasets.
TRAINING: dict[str, Any] = dict(
    batch_size=8, lr_g=1e-4, lr_d=1e-5, betas=(0.0, 0.999), lr_policy="constant (niter 5,000,000, no decay)",
    order="D step, then G step, on the same fake",
)
PARAM_COUNTS = {"market": 12_926_471, "deepfashion": 14_047_395}


def gfla_config(dataset: str, overrides: dict[str, Any]) -> GFLAConfig:
    return build_config(GFLAConfig, dataset, GFLA_DATASETS, overrides)


def gfla_generator(config: GFLAConfig) -> nn.Module:
    w = config.width
    flow = dict(attention=config.attention, flow_ngf=scaled(config.flow_ngf, w), flow_img_f=scaled(config.flow_img_f, w),
                flow_layers=config.flow_layers, pad_mode=config.pad_mode)
    if config.stage == "flow":
        return GFLAFlowGenerator(**flow)
    return GFLAGenerator(scaled(config.ngf, w), scaled(config.img_f, w), config.layers, config.num_blocks,
                         attn_hidden=scaled(ATTN_HIDDEN, w), **flow)


# --------------------------------------------------------------------------------------
# The trainable model


class FlowGANModel(PoseTransferModel):
    """What GFLA and the part-flow model (:mod:`baselines.partflow`) share.

    A ``stage`` "flow" (the flow nets alone, no D) or "full" (GFLA's ResDiscriminator),
    VGG19 loss features loaded on demand, D's (real + fake) / 2 and the flows of the last
    ``forward`` kept for the generator's losses. Subclasses build the generator, name the
    VGG layers and recompute flows for a fake ``forward`` did not make.
    """

    def __init__(self, config: Any, dataset: str):
        super().__init__()
        from bench.train.losses import GANLoss

        self.config = config
        self.dataset = dataset
        self.generator = self.build_generator(config)
        if config.stage == "full":
            w = config.width
            self.discriminators = nn.ModuleDict({"D": ResDiscriminator(IMAGE_CHANNELS, scaled(config.ndf, w),
                                                                        scaled(config.d_img_f, w), config.d_layers)})
            if config.flow_init:
                self.load_flow_init(config.flow_init)
        self.gan_loss = GANLoss(config.gan_mode)
        self._last: tuple[torch.Tensor, list[torch.Tensor]] | None = None

    def build_generator(self, config: Any) -> nn.Module:
        raise NotImplementedError

    def load_flow_init(self, path: str) -> None:
        raise NotImplementedError

    # -- generation -------------------------------------------------------------------

    def generator_inputs(self, batch: Batch) -> tuple[torch.Tensor, ...]:
        return batch["source"], batch["source_pose"], batch["target_pose"]

    def forward(self, batch: Batch) -> torch.Tensor:
        source = batch["source"]
        if source.dim() != 4:
            raise BenchError(f"{self.name} takes one source image per pair; got a source tensor of shape {tuple(source.shape)}")
        image, flows, _ = self.generator(*self.generator_inputs(batch))
        self._last = (image, flows)  # the flows of this image, for generator_losses
        return image

    def _flows(self, batch: Batch, fake: torch.Tensor) -> list[torch.Tensor]:
        last, self._last = self._last, None
        if last is not None and last[0] is fake:
            return last[1]
        return self.recompute_flows(batch)

    def recompute_flows(self, batch: Batch) -> list[torch.Tensor]:
        raise NotImplementedError

    # -- losses -----------------------------------------------------------------------

    def vgg_layers(self) -> tuple[str, ...]:
        raise NotImplementedError

    def prepare_losses(self) -> None:
        """Load VGG19 now (raises ``WeightsMissing`` without its weights) when the VGG terms are on."""
        if self.config.vgg and "vgg" not in self.loss_modules:
            from bench.train.losses import VGG19Features

            self.loss_modules["vgg"] = VGG19Features(self.vgg_layers(), normalize="none", weights_dir=self.config.weights_dir)

    def _vgg(self, device: torch.device) -> nn.Module:
        self.prepare_losses()
        return self.loss_modules["vgg"].to(device)

    def discriminator_losses(self, batch: Batch, fake: torch.Tensor) -> dict[str, torch.Tensor]:
        if self.config.stage == "flow":
            return {}
        d = self.discriminators["D"]
        return {
            "D/real": 0.5 * self.gan_loss(d(batch["target"]), True),
            "D/fake": 0.5 * self.gan_loss(d(fake.detach()), False),
        }


def content_loss(fake_features: dict[str, torch.Tensor], target_features: dict[str, torch.Tensor]) -> torch.Tensor:
    """Sum of L1 distances of VGG19 features over ``CONTENT_LAYERS`` (unweighted)."""
    from bench.train.losses import l1_loss

    return sum(l1_loss(fake_features[n], target_features[n]) for n in CONTENT_LAYERS)


def style_loss(fake_features: dict[str, torch.Tensor], target_features: dict[str, torch.Tensor]) -> torch.Tensor:
    """Sum of L1 distances of Gram matrices over ``STYLE_LAYERS`` (unweighted)."""
    from bench.train.losses import gram_matrix, l1_loss

    return sum(l1_loss(gram_matrix(fake_features[n]), gram_matrix(target_features[n])) for n in STYLE_LAYERS)


class GFLAModel(FlowGANModel):
    name = "gfla"

    def build_generator(self, config: GFLAConfig) -> nn.Module:
        return gfla_generator(config)

    def load_flow_init(self, path: str) -> None:
        load_flow_net(self.generator.flow_net, path)

    def recompute_flows(self, batch: Batch) -> list[torch.Tensor]:
        net = getattr(self.generator, "module", self.generator).flow_net
        return run_flow_net(net, batch["source"], batch["source_pose"], batch["target_pose"], self.config.pad_mode)[0]

    # -- losses -----------------------------------------------------------------------

    def vgg_layers(self) -> tuple[str, ...]:
        correctness = {CORRECTNESS_LAYERS[layer] for layer in self.config.attention}
        if self.config.stage == "flow":
            return tuple(sorted(correctness))
        return tuple(sorted(correctness | set(CONTENT_LAYERS) | set(STYLE_LAYERS)))

    def _by_layer(self, flows: list[torch.Tensor]) -> list[tuple[int, torch.Tensor]]:
        """(attention layer, flow) pairs; the flow net emits the deepest layer first."""
        return list(zip(sorted(self.config.attention, reverse=True), flows))

    def correctness(self, source_features: dict, target_features: dict, flows: list[torch.Tensor]) -> torch.Tensor:
        """Sum over attention layers of the sampling-correctness loss on that layer's VGG features."""
        names = [(CORRECTNESS_LAYERS[layer], flow) for layer, flow in self._by_layer(flows)]
        return sum(sampling_correctness(source_features[name], target_features[name], flow) for name, flow in names)

    def regularization(self, flows: list[torch.Tensor]) -> torch.Tensor:
        """Affine regularisation of each flow over windows of its attention kernel's size."""
        return sum(affine_regularization(flow, self.config.attention[layer]) for layer, flow in self._by_layer(flows))

    def generator_losses(self, batch: Batch, fake: torch.Tensor) -> dict[str, torch.Tensor]:
        from bench.train.losses import l1_loss

        cfg, target = self.config, batch["target"]
        flows = self._flows(batch, fake)
        losses: dict[str, torch.Tensor] = {}
        if cfg.stage == "full":
            losses["l1"] = cfg.lambda_l1 * l1_loss(fake, target)
        if cfg.vgg:
            vgg = self._vgg(fake.device)
            with torch.no_grad():
                target_features, source_features = vgg(target), vgg(batch["source"])
            losses["correctness"] = cfg.correct_weight * self.correctness(source_features, target_features, flows)
        losses["regularization"] = cfg.regularization_weight * self.regularization(flows)
        if cfg.stage == "full":
            losses["gan"] = cfg.lambda_gan * self.gan_loss(self.discriminators["D"](fake), True)
            if cfg.vgg:
                fake_features = vgg(fake)
                losses["content"] = cfg.lambda_content * content_loss(fake_features, target_features)
                losses["style"] = cfg.lambda_style * style_loss(fake_features, target_features)
        return losses

    # -- bookkeeping ------------------------------------------------------------------

    def loss_terms(self) -> list[str]:
        cfg = self.config
        vgg = ["correctness"] if cfg.vgg else []
        if cfg.stage == "flow":
            return vgg + ["regularization"]
        return ["l1"] + vgg + ["regularization", "gan"] + (["content", "style"] if cfg.vgg else [])

    def _vgg_terms(self) -> str:
        cfg = self.config
        if not cfg.vgg:
            return "off (config vgg=False): no correctness, content or style terms"
        flows = ", ".join(f"{CORRECTNESS_LAYERS[layer]} (1/{2 ** layer} flow)" for layer in sorted(cfg.attention, reverse=True))
        text = f"VGG19 without ImageNet normalisation: correctness on {flows}"
        if cfg.stage == "full":
            text += f"; content {', '.join(CONTENT_LAYERS)}; style (Gram) {', '.join(STYLE_LAYERS)}"
        return text

    def _resolution_policy(self) -> str:
        height, width = DATA_SIZES[self.dataset]
        left, right, top, bottom = flow_padding((height, width))
        if not (left or right or top or bottom):
            return "everything at the data size"
        return (f"flow net input padded (left {left}, right {right}, top {top}, bottom {bottom}) to "
                f"{height + top + bottom}x{width + left + right} ({self.config.pad_mode} image, zero heatmaps), "
                "its flows and masks cropped back; encoders and decoder at the data size")

    def metadata(self) -> dict[str, Any]:
        cfg = self.config
        return {
            "model": self.name,
            "dataset": self.dataset,
            "stage": cfg.stage,
            "config": dataclasses.asdict(cfg),
            "generator_loss_terms": self.loss_terms(),
            "loss_weights": {"l1": cfg.lambda_l1, "correctness": cfg.correct_weight, "regularization": cfg.regularization_weight,
                             "gan": cfg.lambda_gan, "content": cfg.lambda_content, "style": cfg.lambda_style},
            "vgg_terms": self._vgg_terms(),
            "attention": {f"layer {layer} (1/{2 ** layer})": f"kernel {k}" for layer, k in sorted(cfg.attention.items())[::-1]},
            "resolution_policy": self._resolution_policy(),
            "discriminators": {} if cfg.stage == "flow" else {"D": "image only (unconditional), LSGAN"},
            "training_in_original": TRAINING,
            "differences_from_original": [
                "CUDA ops (Resample2d, BlockExtractor, LocalAttnReshape) reimplemented in PyTorch; gradients by autograd",
                "the harness trainer steps G before D (the original steps D first)",
            ] + (["256x176 images with a padded flow net (the original resized DeepFashion to 256x256)"]
                 if self.dataset == "deepfashion" else []),
        }


def load_flow_net(flow_net: nn.Module, path: str) -> None:
    """Initialise ``flow_net`` from a ``stage="flow"`` checkpoint (``checkpoint.pt`` / ``model.pt``)."""
    from bench.train.checkpoint import load_checkpoint

    state = load_checkpoint(path)
    prefix = "generator.flow_net."
    weights = {k[len(prefix):]: v for k, v in state.get("model", {}).items() if k.startswith(prefix)}
    if not weights:
        raise DataError(path, "no generator.flow_net.* weights: not a GFLA checkpoint")
    try:
        flow_net.load_state_dict(weights)
    except RuntimeError as err:
        raise DataError(path, f"flow net weights do not fit this configuration: {err}") from None


@MODELS.register(
    "gfla",
    ModelCard(
        paper="Ren et al., CVPR 2020",
        title="Deep Image Spatial Transformation for Person Image Generation",
        year=2020,
        code="https://github.com/RenYurui/Global-Flow-Local-Attention",
        param_counts=PARAM_COUNTS,
        generator_builder=lambda dataset="market", **config: gfla_generator(gfla_config(dataset, config)),
    ),
)
def build_gfla(dataset: str = "market", **config: Any) -> GFLAModel:
    return GFLAModel(gfla_config(dataset, config), dataset)
