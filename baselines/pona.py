"""PoNA: Pose-guided Non-local Attention (Li, Zhang et al., IEEE TIP 2020).

Generator from the authors' code, Zhangjinso/PoNA ``models/head3conv2.py``
(``PoNAModel``, ``Guided_Attn``, ``Self_Attn``, ``double_conv``); everything
else from PATN's code, which PoNA builds on (``models/networks.py``):

* PATN's two encoders (image 3 ch; source + target heatmaps 36 ch) and decoder;
* 3 cascaded PoNA blocks at C = 256 channels (H/4 x W/4). Block t, with image
  code I and pose code P:

  1. fusion code F = SA(I || P): SAGAN self-attention at 2C with 1x1 query/key
     2C -> 2C/8, value 2C -> 2C; ``γ·o + β·F + F`` with γ, β learnable, init 0;
  2. pose update P' = DC(2C -> C)(DC(2C -> 2C)(F) + F)  (four 3x3 convs, the
     last halving the channels; "image-guided pose code update", paper eq. 2-3);
  3. image update I' = conv_I(I): two residual double convs at C, J = I + DC(I),
     I' = J + DC(J);
  4. pose-guided non-local attention: query and key are 1x1 convs C -> C/8 of
     P', value a 1x1 conv C -> C of I'; softmax over the N = H/4·W/4 positions;
     output ``γ·o + I'`` with γ learnable, init 0 (paper eq. 4-7).

  A double conv DC is conv3x3 (bias), norm, ReLU, Dropout(0.5), conv3x3, norm,
  ReLU with zero padding; the code hard-codes affine-free instance norm there.
* discriminators: PATN's, with spectral norm on every conv (the paper's
  appearance / pose discriminators D_A, D_P are ``D_PP`` / ``D_PB`` here). The
  paper describes LeakyReLU(0.2) and self-attention in its discriminators; the
  released ``networks.py`` has ReLU and no attention. We follow the code
  (``d_leaky_slope=0.2`` gives the paper's activation).

Parameters: 34,329,356 with 3 blocks (DeepFashion, the code; paper Table II:
34.33 M). The released code is DeepFashion-only; for Market the paper says batch
norm for *all* normalisation layers of the generator, so ``market`` uses BN in the
double convs too (34,347,340). The paper's 2-block count, 23.31 M, is what that
all-BN generator has with 2 blocks (23,311,497); with the DeepFashion code's
instance norm 2 blocks have 23,299,145 (23.30 M). The block-count ablation
(Table III) was run on Market, which explains the figure.

Training code was not released; losses follow the paper (λ_GAN, λ_L1, λ_perc =
5, 10, 10 on Market and 5, 1, 1 on DeepFashion, VGG19 conv1_2 -> our relu1_2 as in
the code path) and the PATN training script it was built on (GAN type, pool).

Ablations (all at 3 blocks, on Market in the paper), each its own registry name:

``pona-b1``..``pona-b5`` (Table III, number of blocks; 3 is ``pona``).

``pona-wo-self`` (Table IV "w/o Self."): no self-attention; the fusion code is the
plain concatenation I || P.

``pona-wo-cross`` (Table IV "w/o Cro."): no pose-guided non-local attention, so
I_t = conv_I(I_{t-1}). The paper calls that attention "the only way that pose
feature plays a role in guiding the transformation of image feature", so without
it the pose encoder and pose pathway could not influence the output; we drop them
(identical outputs and gradients, no dead parameters). PCKh 0.15 in the table
agrees: this model never sees the target pose.

``pona-fuse-{middle,tail,none}`` (Table V, "place of fusion code"; Head is
``pona``). The paper's Fig. 11 is not in the text, so we define the places by its
words, keeping the self-attention on the fusion code, the four pose convolutions
and the concatenation of the block's *input* image code (as in the head design):

* head: P' = DC(2C->C)(DC(2C)(SA(I || P)))  (the code);
* middle: "in the middle of the four convolution layers":
  P' = DC(2C->C)(SA(I || DC(C)(P)));
* tail: "after pose code updating": P' = DC(C->C)(DC(C)(P)); the attention's
  query/key are embedded from SA(I || P') (1x1 2C -> C/8); P' goes on to the
  next block;
* none: "remove it": P' = DC(C->C)(DC(C)(SA(P))), self-attention on the pose
  code alone at C channels.
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
