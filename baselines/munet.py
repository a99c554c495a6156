"""mUNet: learnable masks on U-Net skip connections (Lakhal, Lanz, Cavallaro, seeds/003).

No code of the paper is public; this module is written from its Sec. 2 and every gap
the text leaves is listed in :data:`GAPS` (recorded in checkpoints' metadata).

The paper replaces a skip connection ``f_E ⊕ f_D`` (eq. 1) by ``ψ(f_E, M) ⊕ f_D`` (eq. 2)
with a learnable weight tensor M per encoder level (dense masks for mUNet / mUNet_o,
grid masks for mUNet_g), on VDG, VDG_np and Def-GAN.

Notes on the original code, what differs and the open gaps: docs/models/munet.md.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from baselines import defgan, vdg
from baselines.layers.blocks import build_config
from bench.cards import ModelCard
from bench.errors import BenchError
from bench.registry import MODELS

PAPER = "Lakhal, Lanz, Cavallaro, Learnable Masks for Pose-Guided View Synthesis"
GRID_CELL = (4, 4)  # h_g x w_g in pixels of the level (not given in the paper)

#: Every choice the paper leaves open.
GAPS = (
    "indicator gradient: forward 1[sigmoid(x*y) >= 0.5], backward the sigmoid straight-through estimator "
    "d/dy = sigmoid'(x*y)*x, d/dx = sigmoid'(x*y)*y (the paper names no estimator)",
    "grid vote gradient: 1[|O| > |S|] passes the gradient of the cell's mean soft bit straight through",
    "threshold evaluated on sigmoid as written (float32 sigmoid(x*y) == 0.5 for about -1.5e-7 < x*y < 0: such "
    "pixels pass)",
    "initialisation: every mask weight 0 (sigmoid(0) = 0.5 passes all: a fresh mUNet computes the plain U-Net)",
    f"grid cell h_g x w_g = {GRID_CELL[0]}x{GRID_CELL[1]} pixels at every level (clipped to the level's size); "
    "rows/columns beyond the last whole cell (eq. 5's floors) pass unmasked; a tie |O| = |S| blocks the cell",
    "mUNet_o: one weight map (1, h, w) shared by all channels; the binary mask stays per channel (phi(f_c, M))",
    "VDG: masks on the image-branch skips of Stage I at every level (5 Market, 6 DeepFashion), Stage II unmasked",
    "Def-GAN: masks on the appearance feature of each skip level after the deformable warp, before the "
    "concatenation with the target-pose feature; the deepest level (the decoder's input, no skip) is unmasked",
    "training: the base model's losses, optimiser and schedule unchanged (paper: 'the training parameters "
    "presented in the original papers'); the mask weights train with the generator's optimiser",
)


# --------------------------------------------------------------------------------------
# Equation (3): the thresholded product, hard forward and straight-through backward


def phi_parts(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(hard, soft)``: ``hard = 1[σ(x ⊙ y) ≥ 0.5]`` (no gradient) and ``soft = σ(x ⊙ y)``."""
    soft = torch.sigmoid(x * y)
    return (soft.detach() >= 0.5).to(soft.dtype), soft


def straight_through(hard: torch.Tensor, soft: torch.Tensor) -> torch.Tensor:
    """``hard`` in the forward pass, the gradient of ``soft`` in the backward pass."""
    return hard + (soft - soft.detach())


def _needs_grad(*tensors: torch.Tensor) -> bool:
    return torch.is_grad_enabled() and any(t.requires_grad for t in tensors)


def phi(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Eq. (3) with the sigmoid straight-through gradient (the hard mask alone without autograd)."""
    hard, soft = phi_parts(x, y)
    return straight_through(hard, soft) if _needs_grad(x, y) else hard


# --------------------------------------------------------------------------------------
# The three masks


class _Mask(nn.Module):
    def __init__(self, channels: int, size: tuple[int, int], weight_shape: tuple[int, ...]):
        super().__init__()
        self.channels, self.size = channels, tuple(size)
        self.weight = nn.Parameter(torch.zeros(weight_shape))

    def _check(self, f: torch.Tensor) -> None:
        if f.dim() != 4 or tuple(f.shape[1:]) != (self.channels, *self.size):
            raise BenchError(f"{type(self).__name__} was built for skip features of shape "
                             f"(B, {self.channels}, {self.size[0]}, {self.size[1]}), got {tuple(f.shape)}")

    def extra_repr(self) -> str:
        return f"channels={self.channels}, size={self.size}, weight={tuple(self.weight.shape)}"


class DenseMask(_Mask):
    """Eq. (4): ``f ⊙ φ(f, M)``; M (c, h, w) for mUNet, (1, h, w) for mUNet_o."""

    def __init__(self, channels: int, size: tuple[int, int], channel_wise: bool = True):
        super().__init__(channels, size, (channels if channel_wise else 1, *size))

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        self._check(f)
        return f * phi(f, self.weight)


class GridMask(_Mask):
    """Eqs. (5)-(7), vectorised: a cell passes whole iff its binary matrix has more 1s than 0s."""

    def __init__(self, channels: int, size: tuple[int, int], cell: tuple[int, int] = GRID_CELL):
        h, w = size
        hg, wg = min(cell[0], h), min(cell[1], w)
        if min(hg, wg) < 1:
            raise BenchError(f"grid cells must be at least 1x1, got {cell}")
        super().__init__(channels, size, (h // hg, w // wg))
        self.cell = (hg, wg)

    def cell_gates(self, f: torch.Tensor) -> torch.Tensor:
        """(B, rows, cols) vote of eq. (7) per cell, 1 or 0 forward, straight-through backward."""
        rows, cols = self.weight.shape
        hg, wg = self.cell
        # m_k spread over its cell's pixels: eq. (6) is then one broadcast product over (B, c, h, w)
        weights = self.weight.repeat_interleave(hg, 0).repeat_interleave(wg, 1)
        hard, soft = phi_parts(f[..., :rows * hg, :cols * wg], weights)

        def per_cell(x: torch.Tensor, reduce: str) -> torch.Tensor:  # channels first: a contiguous reduction
            x = getattr(x, reduce)(1).view(len(f), rows, hg, cols, wg)
            return getattr(x, reduce)((2, 4))

        ones = per_cell(hard, "sum")  # |O|; exact in float32 up to 2**24 values per cell
        vote = (2 * ones > self.channels * hg * wg).to(f.dtype)  # |O| > |S| = n - |O|
        return straight_through(vote, per_cell(soft, "mean")) if _needs_grad(f, self.weight) else vote

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        self._check(f)
        pixels = self.cell_gates(f).repeat_interleave(self.cell[0], 1).repeat_interleave(self.cell[1], 2)
        h, w = self.size
        pixels = F.pad(pixels, (0, w - pixels.shape[-1], 0, h - pixels.shape[-2]), value=1.0)  # leftovers pass
        return f * pixels.unsqueeze(1)


class GridMaskLoop(GridMask):
    """:class:`GridMask` computed cell by cell in Python (the paper's slow version; timing only)."""

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        self._check(f)
        rows, cols = self.weight.shape
        hg, wg = self.cell
        out = f.clone()
        for r in range(rows):
            for c in range(cols):
                cell = f[..., r * hg:(r + 1) * hg, c * wg:(c + 1) * wg]
                hard, soft = phi_parts(cell, self.weight[r, c])
                vote = (2 * hard.sum(dim=(1, 2, 3)) > hard[0].numel()).to(f.dtype)
                gate = straight_through(vote, soft.mean(dim=(1, 2, 3))) if _needs_grad(f, self.weight) else vote
                out[..., r * hg:(r + 1) * hg, c * wg:(c + 1) * wg] = cell * gate.view(-1, 1, 1, 1)
        return out


def dense_gate(channels: int, size: tuple[int, int]) -> nn.Module:
    return DenseMask(channels, size, channel_wise=True)


def one_channel_gate(channels: int, size: tuple[int, int]) -> nn.Module:
    return DenseMask(channels, size, channel_wise=False)


def grid_gate(channels: int, size: tuple[int, int]) -> nn.Module:
    return GridMask(channels, size)


def grid_loop_gate(channels: int, size: tuple[int, int]) -> nn.Module:
    return GridMaskLoop(channels, size)


#: Gate name -> (factory, the paper's name for it).
MASKS = {
    "munet": (dense_gate, "mUNet (dense mask per channel)"),
    "munet-o": (one_channel_gate, "mUNet_o (one-channel dense mask)"),
    "munet-g": (grid_gate, f"mUNet_g (grid mask, {GRID_CELL[0]}x{GRID_CELL[1]} cells)"),
    "munet-g-loop": (grid_loop_gate, "mUNet_g computed with a loop over cells (timing only)"),
}
for _name, (_factory, _) in MASKS.items():
    vdg.SKIP_GATES[_name] = _factory


def mask_parameters(shapes: list[tuple[int, tuple[int, int]]], gate: str) -> int:
    """Mask weights added by ``gate`` on skips of ``shapes`` ((channels, (h, w)) per level)."""
    factory = MASKS[gate][0]
    with torch.device("meta"):
        return sum(p.numel() for c, s in shapes for p in factory(c, s).parameters())


# --------------------------------------------------------------------------------------
# The masked models


def _mask_metadata(gate: str) -> dict[str, Any]:
    return {"skip_gate": gate, "mask": MASKS[gate][1], "mask_paper": PAPER, "mask_gaps_filled": list(GAPS)}


class MaskedVDG(vdg.VDGModel):
    def metadata(self) -> dict[str, Any]:
        return {**super().metadata(), **_mask_metadata(self.config.skip_gate)}


class MaskedDefGAN(defgan.DefGANModel):
    def __init__(self, config: defgan.DefGANConfig, dataset: str, name: str):
        super().__init__(config, dataset)
        self.name = name

    def metadata(self) -> dict[str, Any]:
        return {**super().metadata(), **_mask_metadata(self.config.skip_gate)}


def _fixed_gate(name: str, gate: str, config: dict[str, Any]) -> dict[str, Any]:
    if config.get("skip_gate", gate) != gate:
        raise BenchError(f"{name} is built with skip_gate={gate!r}; use the unmasked model with "
                         f"--set model.skip_gate={config['skip_gate']} for other masks")
    return {**config, "skip_gate": gate}


def _vdg_builder(name: str, gate: str, input_pose: bool):
    def build(dataset: str = "market", **config: Any) -> MaskedVDG:
        if config.get("input_pose", input_pose) != input_pose:
            raise BenchError(f"{name} has input_pose={input_pose}; the other setting is a different model")
        cfg = vdg.vdg_config(dataset, {**_fixed_gate(name, gate, config), "input_pose": input_pose})
        return MaskedVDG(cfg, dataset, name)

    def generator(dataset: str = "market", **config: Any) -> nn.Module:
        cfg = vdg.vdg_config(dataset, {**_fixed_gate(name, gate, config), "input_pose": input_pose})
        return vdg.build_generator(cfg, vdg.canvas_size(cfg, dataset))

    return build, generator


def _defgan_builder(name: str, gate: str):
    def build(dataset: str = "market", **config: Any) -> MaskedDefGAN:
        cfg = build_config(defgan.DefGANConfig, dataset, defgan.DEFGAN_DATASETS, _fixed_gate(name, gate, config))
        return MaskedDefGAN(cfg, dataset, name)

    return build


#: name -> (unmasked model, gate, the paper's rows).
VARIANTS: dict[str, tuple[str, str, str]] = {
    "vdg-munet": ("vdg", "munet", "Table 2 row 2 (mUnet); Table 3 rows 2, 8 (VDG + mUNet)"),
    "vdg-munet-o": ("vdg", "munet-o", "Table 2 row 3 (mUNet_o)"),
    "vdg-munet-g": ("vdg", "munet-g", "Table 2 row 4 (mUNet_g)"),
    "vdg-np-munet": ("vdg-np", "munet", "Table 3 rows 4, 10 (VDG_np + mUNet)"),
    "def-gan-munet": ("def-gan", "munet", "Table 3 row 12 (Def-GAN + mUNet)"),
}
PARAM_COUNTS = {  # base generator + mask weights; tests/models/test_munet.py derives them by hand
    "vdg-munet": {"market": 100_571_782 + 1_855_488, "deepfashion": 175_657_094 + 14_893_056},
    "vdg-munet-o": {"market": 100_571_782 + 10_912, "deepfashion": 175_657_094 + 87_360},
    "vdg-munet-g": {"market": 100_571_782 + 682, "deepfashion": 175_657_094 + 5_460},
    "vdg-np-munet": {"market": 100_551_046 + 1_855_488, "deepfashion": 175_636_358 + 14_893_056},
    "def-gan-munet": {"market": 61_109_085 + 999_424, "deepfashion": 82_080_611 + 8_028_160},
}


def _register() -> None:
    for name, (base, gate, rows) in VARIANTS.items():
        meta = dict(paper=PAPER, base_model=base, skip_gate=gate, paper_rows=rows, code=None,
                    param_counts=PARAM_COUNTS[name])
        if base.startswith("vdg"):
            build, generator = _vdg_builder(name, gate, input_pose=base == "vdg")
            MODELS.add(name, build, ModelCard(generator_builder=generator, **meta))
        else:
            MODELS.add(name, _defgan_builder(name, gate), ModelCard(**meta))


_register()

__all__ = ["DenseMask", "GridMask", "GridMaskLoop", "MASKS", "VARIANTS", "phi", "phi_parts", "straight_through",
           "mask_parameters"]
