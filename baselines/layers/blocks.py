"""Building blocks of the PATN family (PATN, PoNA, and later models that reuse them).

Every block follows tengteng95/Pose-Transfer (``models/model_variants.py``,
``models/networks.py``) layer for layer, and each ``nn.Sequential`` keeps the
original layer order, so state-dict keys such as ``stream1_down.1.weight`` are
the original ones (parameter-free layers keep their index too).

Normalisation conventions of the original ``get_norm_layer``:

* ``batch``: ``BatchNorm2d(affine=True)``; the convolution before it has no bias.
* ``instance``: ``InstanceNorm2d(affine=False)`` (no running statistics); the
  convolution before it keeps its bias, since the norm has none.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import torch
from torch import nn

from bench.data.layout import KINDS
from bench.errors import BenchError

NORMS = ("batch", "instance")
GAN_MODES = ("vanilla", "lsgan")
DATA_SIZES = {name: kind.image_size for name, kind in KINDS.items()}  # (H, W); bench.data.layout is the one home


def norm_layer(kind: str) -> Callable[[int], nn.Module]:
    if kind == "batch":
        return lambda channels: nn.BatchNorm2d(channels, affine=True)
    if kind == "instance":
        return lambda channels: nn.InstanceNorm2d(channels, affine=False)
    raise BenchError(f"unknown norm {kind!r}; choose one of {', '.join(NORMS)}")


def conv_bias(kind: str) -> bool:
    """Whether a convolution followed by this norm carries a bias (PATN's ``use_bias``)."""
    norm_layer(kind)  # validates the name
    return kind == "instance"


def scaled(channels: int, width: float) -> int:
    """Channel count under the ``width`` multiplier used for small CPU test models."""
    return max(1, int(round(channels * width)))


def encoder(in_channels: int, ngf: int, norm: str, n_down: int = 2) -> nn.Sequential:
    """One stream of the two-stream encoder: 7x7 stem then ``n_down`` stride-2 convs.

    Output: ``ngf * 2**n_down`` channels at 1/2**n_down of the input size.
    """
    make_norm, bias = norm_layer(norm), conv_bias(norm)
    layers: list[nn.Module] = [
        nn.ReflectionPad2d(3),
        nn.Conv2d(in_channels, ngf, kernel_size=7, bias=bias),
        make_norm(ngf),
        nn.ReLU(True),
    ]
    for i in range(n_down):
        c = ngf * 2**i
        layers += [nn.Conv2d(c, 2 * c, kernel_size=3, stride=2, padding=1, bias=bias), make_norm(2 * c), nn.ReLU(True)]
    return nn.Sequential(*layers)


def decoder(ngf: int, out_channels: int, norm: str, n_up: int = 2) -> nn.Sequential:
    """Transposed-conv upsampling back to full size, then a 7x7 conv and Tanh."""
    make_norm, bias = norm_layer(norm), conv_bias(norm)
    layers: list[nn.Module] = []
    for i in range(n_up):
        c = ngf * 2 ** (n_up - i)
        layers += [
            nn.ConvTranspose2d(c, c // 2, kernel_size=3, stride=2, padding=1, output_padding=1, bias=bias),
            make_norm(c // 2),
            nn.ReLU(True),
        ]
    # The last conv always has a bias: no norm follows it.
    layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, out_channels, kernel_size=7), nn.Tanh()]
    return nn.Sequential(*layers)


def _maybe_spectral(conv: nn.Conv2d, spectral: bool) -> nn.Module:
    return nn.utils.parametrizations.spectral_norm(conv) if spectral else conv


def _activation(leaky_slope: float | None) -> nn.Module:
    return nn.ReLU(True) if leaky_slope is None else nn.LeakyReLU(leaky_slope, True)


class ResnetBlock(nn.Module):
    """x + (pad, conv3x3, norm, act, [dropout 0.5], pad, conv3x3, norm)(x)."""

    def __init__(self, dim: int, norm: str, dropout: bool, spectral: bool = False, leaky_slope: float | None = None):
        super().__init__()
        make_norm, bias = norm_layer(norm), conv_bias(norm)
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(1),
            _maybe_spectral(nn.Conv2d(dim, dim, kernel_size=3, bias=bias), spectral),
            make_norm(dim),
            _activation(leaky_slope),
        ]
        if dropout:
            layers.append(nn.Dropout(0.5))
        layers += [nn.ReflectionPad2d(1), _maybe_spectral(nn.Conv2d(dim, dim, kernel_size=3, bias=bias), spectral), make_norm(dim)]
        self.conv_block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv_block(x)


class ResnetDiscriminator(nn.Module):
    """PATN's ``ResnetDiscriminator``: encoder stem plus ResNet blocks, no 1-channel head.

    The output is a ``4 * ndf``-channel map at a quarter of the input size, and
    every element is compared with the real/fake label. ``sigmoid`` appends the
    Sigmoid the original adds for its BCE loss; ``spectral`` wraps every conv in
    spectral normalisation (PoNA); ``leaky_slope`` replaces ReLU by LeakyReLU.
    """

    def __init__(
        self,
        in_channels: int,
        ndf: int = 64,
        norm: str = "batch",
        n_blocks: int = 3,
        dropout: bool = True,
        sigmoid: bool = False,
        spectral: bool = False,
        leaky_slope: float | None = None,
        n_down: int = 2,
    ):
        super().__init__()
        make_norm, bias = norm_layer(norm), conv_bias(norm)
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(3),
            _maybe_spectral(nn.Conv2d(in_channels, ndf, kernel_size=7, bias=bias), spectral),
            make_norm(ndf),
            _activation(leaky_slope),
        ]
        for i in range(n_down):
            c = ndf * 2**i
            conv = nn.Conv2d(c, 2 * c, kernel_size=3, stride=2, padding=1, bias=bias)
            layers += [_maybe_spectral(conv, spectral), make_norm(2 * c), _activation(leaky_slope)]
        dim = ndf * 2**n_down
        layers += [ResnetBlock(dim, norm, dropout, spectral, leaky_slope) for _ in range(n_blocks)]
        if sigmoid:
            layers.append(nn.Sigmoid())
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


def init_normal(module: nn.Module) -> nn.Module:
    """PATN's ``weights_init_normal``: conv weights N(0, 0.02), BN weights N(1, 0.02), BN bias 0.

    Conv biases keep PyTorch's default initialisation, as in the original.
    """
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, 0.02)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)
    return module


C = TypeVar("C")


def build_config(cls: type[C], dataset: str, per_dataset: Mapping[str, Mapping[str, Any]], overrides: Mapping[str, Any]) -> C:
    """A model config: the dataclass defaults, then the dataset's paper values, then overrides."""
    if dataset not in per_dataset:
        raise BenchError(f"unknown dataset {dataset!r} for {cls.__name__}; choose one of {', '.join(per_dataset)}")
    valid = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(overrides) - valid)
    if unknown:
        raise BenchError(f"unknown {cls.__name__} option(s) {', '.join(unknown)}; valid options: {', '.join(sorted(valid))}")
    return cls(**{**per_dataset[dataset], **overrides})


def canvas_pads(name: str, image: torch.Tensor, canvas: tuple[int, int]) -> tuple[int, int]:
    """(left, right) columns that centre ``image`` (..., H, W) on a ``canvas`` (H, W') of the same height.

    The originals of Def-GAN, PG2 and their relatives ran at 256x256; the benchmark's
    176-wide DeepFashion images are widened to that canvas and cropped back.
    """
    height, width = image.shape[-2:]
    canvas_h, canvas_w = canvas
    if canvas_h != height or canvas_w < width:
        raise BenchError(f"{name}: images of {height}x{width} do not fit the {canvas_h}x{canvas_w} canvas "
                         "(only widening is supported)")
    left = (canvas_w - width) // 2
    return left, canvas_w - width - left
