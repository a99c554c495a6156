"""The re-ID baseline: ResNet-50 + a 512-d bottleneck, trained as an identity classifier.

Zheng et al.'s Person_reID_baseline_pytorch (``ft_net``), the framework PoNA
cites [41]: torchvision's ResNet-50 (ImageNet-initialised) up to global average
pooling, then ``ClassBlock`` = Linear(2048, 512), BatchNorm1d, Dropout(0.5),
Linear(512, identities). The test feature is the 512-d bottleneck output
(dropout is off in eval), averaged with that of the flipped image and
L2-normalised (``features``).

``width_divisor`` d > 1 divides every channel count of the ResNet-50 (stem,
bottleneck planes, hence 2048 -> 2048/d) for CPU runs; the depth and block
structure stay those of ResNet-50. Only d = 1 can load the ImageNet weights
(torchvision's ``resnet50-0676ba61.pth``, through ``bench.weights``); any other
network is from scratch and is labelled so (``init_label``).
"""
from __future__ import annotations

import torch
from torch import nn

from bench._torchvision_compat import import_torchvision

_resnet = import_torchvision().models.resnet
Bottleneck, ResNet = _resnet.Bottleneck, _resnet.ResNet

BOTTLENECK = 512
DROPOUT = 0.5


class _NarrowResNet50(ResNet):
    """torchvision's ResNet-50 with every channel count divided by ``divisor`` (1 = the original)."""

    def __init__(self, divisor: int = 1):
        self._divisor = divisor
        super().__init__(Bottleneck, [3, 4, 6, 3])
        if divisor != 1:
            stem = 64 // divisor
            self.conv1 = nn.Conv2d(3, stem, kernel_size=7, stride=2, padding=3, bias=False)
            self.bn1 = nn.BatchNorm2d(stem)
            for m in (self.conv1,):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        self.fc = nn.Identity()

    def _make_layer(self, block, planes, blocks, stride=1, dilate=False):
        if planes == 64 and self.inplanes == 64:  # the first stage: the stem's width is divided too
            self.inplanes = 64 // self._divisor
        return super()._make_layer(block, planes // self._divisor, blocks, stride, dilate)


class ReIDNet(nn.Module):
    def __init__(self, identities: int, width_divisor: int = 1):
        super().__init__()
        if width_divisor < 1 or 64 % width_divisor:
            raise ValueError(f"width_divisor must divide 64, got {width_divisor}")
        self.width_divisor = width_divisor
        self.backbone = _NarrowResNet50(width_divisor)
        channels = 2048 // width_divisor
        self.bottleneck = nn.Sequential(nn.Linear(channels, BOTTLENECK), nn.BatchNorm1d(BOTTLENECK), nn.Dropout(DROPOUT))
        self.classifier = nn.Linear(BOTTLENECK, identities)
        nn.init.kaiming_normal_(self.bottleneck[0].weight, a=0, mode="fan_out")
        nn.init.zeros_(self.bottleneck[0].bias)
        nn.init.normal_(self.bottleneck[1].weight, 1.0, 0.02)
        nn.init.zeros_(self.bottleneck[1].bias)
        nn.init.normal_(self.classifier.weight, std=0.001)
        nn.init.zeros_(self.classifier.bias)

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        return self.bottleneck(self.backbone(images))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.embed(images))

    def load_imagenet(self, path) -> None:
        """torchvision's ImageNet ResNet-50 state dict into the backbone (its fc is dropped)."""
        if self.width_divisor != 1:
            raise ValueError("ImageNet weights fit only the full-width ResNet-50 (width_divisor 1)")
        state = torch.load(path, map_location="cpu", weights_only=True)
        state = {k: v for k, v in state.items() if not k.startswith("fc.")}
        self.backbone.load_state_dict(state, strict=True)


@torch.no_grad()
def features(model: ReIDNet, images: torch.Tensor) -> torch.Tensor:
    """Flip-averaged, L2-normalised bottleneck features (Person_reID_baseline_pytorch's test.py)."""
    model.eval()
    f = model.embed(images) + model.embed(images.flip(-1))
    return nn.functional.normalize(f, dim=1)


def init_label(imagenet: bool, width_divisor: int) -> str:
    """How the backbone was initialised, as the record and the table print it."""
    if imagenet:
        return "ResNet-50, ImageNet-initialised"
    width = "full width" if width_divisor == 1 else f"1/{width_divisor} width"
    return f"ResNet-50 from scratch ({width}; not the paper's ImageNet-initialised baseline)"
