"""Loss terms shared by the generators: L1, GAN, image pool, VGG19 perceptual and style.

Conventions (PATN, tengteng95/Pose-Transfer ``models/PATN.py``,
``losses/L1_plus_perceptualLoss.py``, ``util/image_pool.py``):

* images are in [-1, 1];
* the perceptual loss is L1 between VGG19 activations after ``relu1_2``
  (``features[0..3]``) of images mapped to [0, 1] and ImageNet-normalised, the
  target's features detached;
* the GAN loss compares every element of the discriminator's output map with the
  real/fake label (PATN's D has no final 1-channel conv).

VGG19 weights are never random: :class:`VGG19Features` loads torchvision's file
(``vgg19-dcbb9e9d.pth``) through :func:`bench.weights.require`, which raises
:class:`bench.weights.WeightsMissing` with where to put it.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def l1_loss(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean absolute error over every element (PATN's ``nn.L1Loss``)."""
    return (prediction - target).abs().mean()


# --------------------------------------------------------------------------------------
# Adversarial loss


class GANLoss:
    """Adversarial loss on a discriminator's raw output, compared element-wise with a label.

    ``mode="lsgan"``: mean squared error to 1 (real) / 0 (fake); the D has no final
    activation (PATN DeepFashion).

    ``mode="vanilla"``: binary cross-entropy (PATN Market, ``--no_lsgan``). PATN's
    D ends in ``nn.Sigmoid`` and uses ``nn.BCELoss``; which output the D gives is
    told by ``with_logits``:

    * ``with_logits=True`` (default): the D outputs logits (no final Sigmoid) and the
      loss is BCE-with-logits, which equals Sigmoid + BCE but is numerically stable
      and safe under autocast. Build the D without its Sigmoid in this case.
    * ``with_logits=False``: the D already ends in Sigmoid (outputs in (0, 1)), the
      loss is plain BCE (log clamped at -100, as ``nn.BCELoss``).

    :attr:`needs_sigmoid` tells a model whether its D must end in Sigmoid.
    """

    MODES = ("vanilla", "lsgan")

    def __init__(self, mode: str = "vanilla", with_logits: bool = True, real_label: float = 1.0, fake_label: float = 0.0):
        if mode not in self.MODES:
            raise ValueError(f"unknown gan_mode {mode!r}; expected one of {', '.join(self.MODES)}")
        self.mode = mode
        self.with_logits = with_logits
        self.real_label = real_label
        self.fake_label = fake_label

    @property
    def needs_sigmoid(self) -> bool:
        return self.mode == "vanilla" and not self.with_logits

    def __call__(self, prediction: torch.Tensor, target_is_real: bool) -> torch.Tensor:
        target = torch.full_like(prediction, self.real_label if target_is_real else self.fake_label)
        if self.mode == "lsgan":
            return F.mse_loss(prediction, target)
        if self.with_logits:
            return F.binary_cross_entropy_with_logits(prediction, target)
        return F.binary_cross_entropy(prediction, target)

    def __repr__(self) -> str:
        return f"GANLoss(mode={self.mode!r}, with_logits={self.with_logits})"


# --------------------------------------------------------------------------------------
# Pool of past fakes


class ImagePool(nn.Module):
    """A buffer of previously generated images fed to the discriminator (Shrivastava et al. 2017).

    Same rule as PATN/CycleGAN ``util/image_pool.py``: while the pool is not full,
    each incoming image is stored and returned; afterwards, with probability 1/2 a
    random stored image is returned and replaced by the incoming one, otherwise the
    incoming image is returned. ``size=0`` passes images through.

    Randomness comes from ``generator`` or, by default, torch's global CPU RNG, so a
    checkpoint that saves torch's RNG state reproduces the draws. The stored images
    are this module's extra state, hence part of the owning model's ``state_dict``
    (keep the pool as a submodule of the model so checkpoints carry it).
    """

    def __init__(self, size: int, generator: torch.Generator | None = None):
        super().__init__()
        if size < 0:
            raise ValueError(f"pool size must be >= 0, got {size}")
        self.size = size
        self.generator = generator
        self.images: list[torch.Tensor] = []

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.query(images)

    def query(self, images: torch.Tensor) -> torch.Tensor:
        if self.size == 0:
            return images
        out = []
        for image in images.detach():
            image = image.unsqueeze(0).clone()
            if len(self.images) < self.size:
                self.images.append(image)
                out.append(image)
            elif torch.rand((), generator=self.generator).item() > 0.5:
                slot = int(torch.randint(self.size, (), generator=self.generator).item())
                out.append(self.images[slot].to(image.device))
                self.images[slot] = image
            else:
                out.append(image)
        return torch.cat(out, 0)

    def __len__(self) -> int:
        return len(self.images)

    def get_extra_state(self) -> dict[str, torch.Tensor]:
        stored = torch.cat(self.images, 0).cpu() if self.images else torch.zeros(0)
        return {"images": stored}

    def set_extra_state(self, state: dict[str, torch.Tensor]) -> None:
        stored = state["images"]
        self.images = [img.unsqueeze(0).clone() for img in stored] if stored.numel() else []

    def extra_repr(self) -> str:
        return f"size={self.size}"


# --------------------------------------------------------------------------------------
# VGG19 features


def _vgg19_layer_names() -> list[str]:
    """Names of torchvision ``vgg19().features`` modules: conv1_1, relu1_1, ..., pool5."""
    names, block, index = [], 1, 1
    for channels in (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"):
        if channels == "M":
            names.append(f"pool{block}")
            block, index = block + 1, 1
        else:
            names += [f"conv{block}_{index}", f"relu{block}_{index}"]
            index += 1
    return names


VGG19_LAYERS = _vgg19_layer_names()


class VGG19Features(nn.Module):
    """Frozen torchvision VGG19 ``features`` up to the deepest requested layer.

    Input images are in [-1, 1]. ``normalize="imagenet"`` maps them to [0, 1] and
    applies ImageNet mean/std (PATN); ``"none"`` feeds them unchanged.
    Weights: ``weights_path`` if given, else ``bench.weights.require("vgg19", weights_dir)``.
    """

    def __init__(
        self,
        layers: Sequence[str] = ("relu1_2",),
        weights_path: str | Path | None = None,
        normalize: str = "imagenet",
        weights_dir: str | Path | None = None,
    ):
        super().__init__()
        unknown = [name for name in layers if name not in VGG19_LAYERS]
        if unknown:
            raise ValueError(f"unknown VGG19 layer(s) {unknown}; valid: {', '.join(VGG19_LAYERS)}")
        if normalize not in ("imagenet", "none"):
            raise ValueError(f"normalize must be 'imagenet' or 'none', got {normalize!r}")
        self.layers = tuple(layers)
        self.normalize = normalize
        self.weights_path = Path(weights_path) if weights_path else _require_vgg19(weights_dir)
        self.features = _load_vgg19_features(self.weights_path, max(VGG19_LAYERS.index(n) for n in layers) + 1)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> "VGG19Features":
        return super().train(False)  # a fixed feature extractor: never in training mode

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        x = images
        if self.normalize == "imagenet":
            x = ((x + 1) / 2 - self.mean) / self.std
        out = {}
        for name, layer in zip(VGG19_LAYERS, self.features):
            x = layer(x)
            if name in self.layers:
                out[name] = x
        return out


def _require_vgg19(weights_dir: str | Path | None) -> Path:
    from bench.weights import require

    return require("vgg19", weights_dir)


def _load_vgg19_features(path: Path, depth: int) -> nn.Sequential:
    """torchvision's VGG19 ``features`` cut at ``depth``, weights from ``path`` (a vgg19 state dict)."""
    from bench._torchvision_compat import import_torchvision

    import_torchvision()
    from torchvision.models.vgg import cfgs, make_layers

    # Only the convolutional part is built: the 120M-parameter classifier is never used.
    features = make_layers(cfgs["E"], batch_norm=False)[:depth]
    state = torch.load(path, map_location="cpu", weights_only=True)
    wanted = {key: f"features.{key}" for key in features.state_dict()}
    missing = [name for name in wanted.values() if name not in state]
    if missing:
        raise ValueError(f"{path}: not a torchvision VGG19 state dict (missing {', '.join(missing[:4])})")
    features.load_state_dict({key: state[name] for key, name in wanted.items()})
    for module in features:
        if isinstance(module, nn.ReLU):
            module.inplace = False  # features are returned from several depths
    return features


def _features(features: VGG19Features | None, layers: Sequence[str], **vgg_kwargs) -> VGG19Features:
    if features is None:
        return VGG19Features(layers, **vgg_kwargs)
    missing = [name for name in layers if name not in features.layers]
    if missing:
        raise ValueError(f"the shared VGG19Features does not return {missing}")
    return features


class PerceptualLoss(nn.Module):
    """L1 between VGG19 features of fake and (detached) target at ``layer`` (PATN: relu1_2).

    Pass ``features`` to share one :class:`VGG19Features` with :class:`StyleLoss`;
    otherwise one is built from ``weights_path`` / ``weights_dir`` / ``normalize``.
    """

    def __init__(self, layer: str = "relu1_2", features: VGG19Features | None = None, **vgg_kwargs):
        super().__init__()
        self.layer = layer
        self.vgg = _features(features, (layer,), **vgg_kwargs)

    def forward(self, fake: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            target_features = self.vgg(target)[self.layer]
        return l1_loss(self.vgg(fake)[self.layer], target_features.detach())


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (B, C, C) Gram matrix normalised by C*H*W (Johnson et al. 2016)."""
    b, c, h, w = features.shape
    flat = features.reshape(b, c, h * w)
    return flat @ flat.transpose(1, 2) / (c * h * w)


class StyleLoss(nn.Module):
    """Sum over ``layers`` of L1 between Gram matrices of fake and (detached) target features."""

    def __init__(
        self,
        layers: Sequence[str] = ("relu2_2", "relu3_4", "relu4_4", "relu5_2"),
        features: VGG19Features | None = None,
        **vgg_kwargs,
    ):
        super().__init__()
        self.layers = tuple(layers)
        self.vgg = _features(features, self.layers, **vgg_kwargs)

    def forward(self, fake: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            target_features = self.vgg(target)
        fake_features = self.vgg(fake)
        return sum(
            l1_loss(gram_matrix(fake_features[name]), gram_matrix(target_features[name]).detach())
            for name in self.layers
        )
