"""PoNA: Pose-guided Non-local Attention (Li, Zhang et al., IEEE TIP 2020).

Generator from the authors' code, Zhangjinso/PoNA ``models/head3conv2.py``: PATN's two
encoders and decoder around 3 cascaded PoNA blocks at 256 channels; everything else
(discriminators, losses, training) from PATN's code, which PoNA builds on. The variants
(``pona-b1`` ... ``pona-fuse-none``) are the paper's ablation rows (Tables III-V).

Notes on the original code, what differs and the open gaps: docs/models/pona.md.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from baselines.layers.blocks import build_config, decoder, encoder, init_normal, norm_layer, scaled
from baselines.patn import IMAGE_CHANNELS, PATN_DATASETS, PairGANConfig, PairGANModel
from bench.cards import ModelCard
from bench.data.keypoints import NUM_KEYPOINTS
from bench.errors import BenchError
from bench.registry import MODELS

FUSIONS = ("head", "middle", "tail", "none")


class DoubleConv(nn.Module):
    """PoNA's ``double_conv``, with its residual flag fixed at construction."""

    def __init__(self, in_ch: int, out_ch: int, norm: str, residual: bool, dropout: bool = True):
        super().__init__()
        if residual and in_ch != out_ch:
            raise ValueError("a residual double conv keeps its channel count")
        make_norm = norm_layer(norm)
        # Dropout stays at index 3 (Identity when off) so the original key names hold.
        self.conv = nn.Sequential(
            nn.Conv2d(in_ch, in_ch, 3, padding=1),
            make_norm(in_ch),
            nn.ReLU(True),
            nn.Dropout(0.5) if dropout else nn.Identity(),
            nn.Conv2d(in_ch, out_ch, 3, padding=1),
            make_norm(out_ch),
            nn.ReLU(True),
        )
        self.residual = residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        return x + y if self.residual else y


def non_local(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
    """out[:, :, i] = Σ_j softmax_j(query_i · key_j) value[:, :, j], for (B, C, H, W) maps.

    No 1/sqrt(d) scaling (SAGAN). Computed as the authors' ``Guided_Attn`` does: two
    ``bmm`` around an explicit N x N softmax, so outputs equal theirs bit for bit. Fused
    attention (``scaled_dot_product_attention``) spares the N x N map, but its CPU kernel
    needs query and key padded to the value's C channels: 8x the query-key work, which made
    batch-1 inference 1.14-1.27x slower than the authors' code (README "Training speed").
    """
    b, c, h, w = value.shape
    energy = torch.bmm(query.flatten(2).transpose(1, 2), key.flatten(2))  # (B, N, N)
    attention = torch.softmax(energy, dim=-1)
    return torch.bmm(value.flatten(2), attention.transpose(1, 2)).view(b, c, h, w)


class SelfAttention(nn.Module):
    """PoNA's ``Self_Attn`` (SAGAN): γ·attention(x) + β·x + x, with γ = β = 0 at init."""

    def __init__(self, dim: int):
        super().__init__()
        self.query_conv = nn.Conv2d(dim, max(1, dim // 8), 1)
        self.key_conv = nn.Conv2d(dim, max(1, dim // 8), 1)
        self.value_conv = nn.Conv2d(dim, dim, 1)
        self.gamma = nn.Parameter(torch.zeros(1))
        self.beta = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        attended = non_local(self.query_conv(x), self.key_conv(x), self.value_conv(x))
        return self.gamma * attended + self.beta * x + x


class PoNABlock(nn.Module):
    """One cascaded block (the code's ``Guided_Attn``; attribute names are the original's).

    ``conv``/``conv2``: image pathway; ``att2``/``dconv``/``dconv2``: pose pathway;
    ``query_conv``/``key_conv``/``value_conv``/``gamma``: pose-guided attention.
    """

    def __init__(self, dim: int, norm: str, dropout: bool = True, fusion: str = "head",
                 self_attention: bool = True, cross_modal: bool = True):
        super().__init__()
        self.fusion, self.cross_modal = fusion, cross_modal
        self.conv = DoubleConv(dim, dim, norm, residual=True, dropout=dropout)
        self.conv2 = DoubleConv(dim, dim, norm, residual=True, dropout=dropout)
        if not cross_modal:
            return
        # Channel widths per fusion place (see the module docstring).
        self.att2 = SelfAttention(dim if fusion == "none" else 2 * dim) if self_attention else nn.Identity()
        first = 2 * dim if fusion == "head" else dim
        self.dconv = DoubleConv(first, first, norm, residual=True, dropout=dropout)
        second = 2 * dim if fusion in ("head", "middle") else dim
        self.dconv2 = DoubleConv(second, dim, norm, residual=False, dropout=dropout)
        guide = 2 * dim if fusion == "tail" else dim
        self.query_conv = nn.Conv2d(guide, max(1, dim // 8), 1)
        self.key_conv = nn.Conv2d(guide, max(1, dim // 8), 1)
        self.value_conv = nn.Conv2d(dim, dim, 1)
        self.gamma = nn.Parameter(torch.zeros(1))

    def _update_pose(self, image: torch.Tensor, pose: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The next pose code and the map the attention's query and key are embedded from."""
        if self.fusion == "head":
            pose = self.dconv2(self.dconv(self.att2(torch.cat((image, pose), 1))))
            return pose, pose
        if self.fusion == "middle":
            pose = self.dconv2(self.att2(torch.cat((image, self.dconv(pose)), 1)))
            return pose, pose
        if self.fusion == "tail":
            pose = self.dconv2(self.dconv(pose))
            return pose, self.att2(torch.cat((image, pose), 1))
        pose = self.dconv2(self.dconv(self.att2(pose)))
        return pose, pose

    def forward(self, image: torch.Tensor, pose: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
        if not self.cross_modal:
            return self.conv2(self.conv(image)), None
        pose, guide = self._update_pose(image, pose)
        image = self.conv2(self.conv(image))
        attended = non_local(self.query_conv(guide), self.key_conv(guide), self.value_conv(image))
        return self.gamma * attended + image, pose


class PoNAGenerator(nn.Module):
    def __init__(self, ngf: int = 64, n_blocks: int = 3, norm: str = "instance", dropout: bool = True,
                 fusion: str = "head", self_attention: bool = True, cross_modal: bool = True, n_down: int = 2):
        super().__init__()
        dim = ngf * 2**n_down
        self.stream1_down = encoder(IMAGE_CHANNELS, ngf, norm, n_down)
        if cross_modal:
            self.stream2_down = encoder(2 * NUM_KEYPOINTS, ngf, norm, n_down)
        self.att = nn.ModuleList(PoNABlock(dim, norm, dropout, fusion, self_attention, cross_modal) for _ in range(n_blocks))
        self.stream1_up = decoder(ngf, IMAGE_CHANNELS, norm, n_down)
        init_normal(self)

    def forward(self, image: torch.Tensor, poses: torch.Tensor) -> torch.Tensor:
        image = self.stream1_down(image)
        pose = self.stream2_down(poses) if hasattr(self, "stream2_down") else None
        for block in self.att:
            image, pose = block(image, pose)
        return self.stream1_up(image)


@dataclass
class PoNAConfig(PairGANConfig):
    ngf: int = 64
    n_blocks: int = 3
    dropout: bool = True  # Dropout(0.5) inside every double conv, as hard-coded in the code
    fusion: str = "head"
    self_attention: bool = True
    cross_modal: bool = True
    spectral_d: bool = True

    def __post_init__(self) -> None:
        if self.fusion not in FUSIONS:
            raise BenchError(f"unknown PoNA fusion {self.fusion!r}; choose one of {', '.join(FUSIONS)}")
        if not 1 <= self.n_blocks:
            raise BenchError(f"PoNA needs at least one block, got n_blocks={self.n_blocks}")
        if not self.cross_modal and (self.fusion != "head" or not self.self_attention):
            raise BenchError("without the cross-modal attention the pose pathway is dropped; fusion/self_attention do not apply")


def pona_generator(config: PoNAConfig) -> PoNAGenerator:
    return PoNAGenerator(scaled(config.ngf, config.width), config.n_blocks, config.norm, config.dropout,
                         config.fusion, config.self_attention, config.cross_modal)


class PoNAModel(PairGANModel):
    name = "pona"

    def __init__(self, config: PoNAConfig, dataset: str, name: str = "pona"):
        super().__init__(pona_generator(config), config, dataset)
        self.name = name  # the registered variant


PAPER = "Li, Zhang et al., PoNA: Pose-guided Non-local Attention for Human Pose Transfer, IEEE TIP 2020"
CODE = "https://github.com/Zhangjinso/PoNA"

# name -> (config overrides, the paper's table rows this model is)
VARIANTS: dict[str, tuple[dict[str, Any], str]] = {
    "pona": ({}, "Table I/II 'Ours (3 PoNA blocks)'; Table III '3'; Table IV 'Full model'; Table V 'Head'"),
    "pona-b1": ({"n_blocks": 1}, "Table III '1'"),
    "pona-b2": ({"n_blocks": 2}, "Table II 'Ours with 2 PoNA blocks'; Table III '2'"),
    "pona-b4": ({"n_blocks": 4}, "Table III '4'"),
    "pona-b5": ({"n_blocks": 5}, "Table III '5'"),
    "pona-wo-cross": ({"cross_modal": False}, "Table IV 'w/o Cro.'"),
    "pona-wo-self": ({"self_attention": False}, "Table IV 'w/o Self.'"),
    "pona-fuse-middle": ({"fusion": "middle"}, "Table V 'Middle'"),
    "pona-fuse-tail": ({"fusion": "tail"}, "Table V 'Tail'"),
    "pona-fuse-none": ({"fusion": "none"}, "Table V 'None'"),
}


def _register(name: str, preset: dict[str, Any], rows: str) -> None:
    def config_for(dataset: str, config: dict[str, Any]) -> PoNAConfig:
        return build_config(PoNAConfig, dataset, PATN_DATASETS, {**preset, **config})

    def build(dataset: str = "market", **config: Any) -> PoNAModel:
        return PoNAModel(config_for(dataset, config), dataset, name)

    def build_generator(dataset: str = "market", **config: Any) -> PoNAGenerator:
        return pona_generator(config_for(dataset, config))

    params = {"deepfashion": 34_329_356, "market": 34_347_340} if name == "pona" else None
    card = ModelCard(paper=PAPER, year=2020, code=CODE, paper_rows=rows, preset=preset, generator_builder=build_generator,
                     param_counts=params)
    MODELS.add(name, build, card)


for _name, (_preset, _rows) in VARIANTS.items():
    _register(_name, _preset, _rows)
