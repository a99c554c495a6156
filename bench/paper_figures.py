"""The seed papers' analysis figures, redrawn from trained runs.

* SDGAN Fig. 5 ("different resolution results"): each scale's image of the stacked
  generator (low, middle, full resolution) beside the source and the ground truth;
* Tang et al. Fig. 7 ("relation map w.r.t. a certain target patch"): the pyramid
  non-local block's relation maps ``softmax(theta(x)^T phi(P_s x))`` (one per pool size
  s) for the query position at the torso centre of the target pose, over the output;
* Lakhal et al. Fig. 4: the number of non-masked (non-zero) pixels per channel of the
  first encoder block's skip feature after the mask, averaged over test pairs, for
  No-mask (VDG), mUNet, mUNet_o and mUNet_g (the paper: about 8192 = 128x64 for No-mask,
  about half for the dense masks, 40-60% masked for the grid mask).

Each function takes trained run folders (``bench train``) and the dataset, loads the
first ``n`` test pairs and returns a matplotlib figure (and, for Fig. 4, the counts).
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F

from bench.errors import BenchError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

TORSO = ("neck", "r_hip", "l_hip")  # the query patch of Fig. 7: the mean of these target keypoints


def _batch(dataset: Path, pairs_dir: Path | None, n: int):
    from bench.data.dataset import PairDataset, collate
    from bench.data.layout import DatasetLayout

    layout = DatasetLayout.open(dataset, pairs_dir)
    pairs = PairDataset(layout, "test")
    if len(pairs) == 0:
        raise BenchError(f"{layout.pairs('test')}: no test pairs")
    return layout, collate([pairs[i] for i in range(min(n, len(pairs)))])


def _model(run: Path, kind: str):
    from bench.train.generate import load_trained

    model, info = load_trained(run, kind)
    return model.eval(), info


def _image(t: torch.Tensor) -> np.ndarray:
    """(3, H, W) in [-1, 1] -> (H, W, 3) float in [0, 1] for imshow."""
    return ((t.detach().float().clamp(-1, 1) + 1) / 2).permute(1, 2, 0).cpu().numpy()


def _grid(rows: int, cols: int, titles: list[str], cell: tuple[float, float] = (1.2, 2.2)):
    from bench.figures import pyplot

    plt = pyplot()
    fig, axes = plt.subplots(rows, cols, figsize=(cols * cell[0], rows * cell[1]), squeeze=False, layout="constrained")
    for ax in axes.flat:
        ax.set_xticks([]), ax.set_yticks([])
    for ax, title in zip(axes[0], titles):
        ax.set_title(title, fontsize=8)
    return fig, axes


def sdgan_scales(run: Path, dataset: Path, pairs_dir: Path | None = None, n: int = 4) -> "Figure":
    """SDGAN Fig. 5: source, ground truth and every scale's generated image (shown at full size)."""
    layout, batch = _batch(dataset, pairs_dir, n)
    model, info = _model(run, layout.kind.name)
    if not hasattr(model, "generate") or info["model"] != "sdgan":
        raise BenchError(f"{run} holds a {info['model']!r} run: the scale figure needs sdgan")
    with torch.no_grad():
        scales = model.generate(batch)
    size = batch["target"].shape[-2:]
    titles = ["source", "ground truth"] + [f"scale {i + 1} ({s.shape[-2]}x{s.shape[-1]})" for i, s in enumerate(scales)]
    fig, axes = _grid(len(batch["to"]), len(titles), titles)
    for row in range(len(batch["to"])):
        shown = [batch["source"][row], batch["target"][row]]
        shown += [F.interpolate(s[row:row + 1], size=tuple(size), mode="nearest")[0] for s in scales]
        for ax, image in zip(axes[row], shown):
            ax.imshow(_image(image))
    fig.suptitle(f"SDGAN Fig. 5 redrawn: per-scale outputs ({run}, step {info['step']})", fontsize=8)
    return fig


def _query(keypoints: torch.Tensor, size: tuple[int, int]) -> tuple[int, int]:
    """(y, x) of the torso centre of one pose's keypoints (the image centre when they are missing)."""
    from bench.data.keypoints import INDEX

    points = [keypoints[INDEX[name]] for name in TORSO if (keypoints[INDEX[name]] >= 0).all()]
    if not points:
        return size[0] // 2, size[1] // 2
    y, x = torch.stack(points).float().mean(0).tolist()
    return int(round(y)), int(round(x))


def _forward_capturing(model, batch, module: torch.nn.Module, pick) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """``model(batch)`` without gradients, and ``pick(args, out)`` of every call of ``module`` during it."""
    seen: list[torch.Tensor] = []
    hook = module.register_forward_hook(lambda _, args, out: seen.append(pick(args, out).detach()))
    try:
        with torch.no_grad():
            out = model(batch)
    finally:
        hook.remove()
    return out, seen


def tang_relations(run: Path, dataset: Path, pairs_dir: Path | None = None, n: int = 4) -> "Figure":
    """Tang et al. Fig. 7: the PNB's relation maps for the target patch at the torso centre."""
    from bench.figures import pyplot

    layout, batch = _batch(dataset, pairs_dir, n)
    model, info = _model(run, layout.kind.name)
    pnb = getattr(model.generator, "pnb", None)
    if pnb is None or not hasattr(pnb, "relations"):
        raise BenchError(f"{run} ({info['model']}) has no pyramid non-local block: the relation figure needs partflow")
    fake, seen = _forward_capturing(model, batch, pnb, lambda args, out: args[0])
    if not seen:
        raise BenchError(f"{run}: the generator ran without its pyramid non-local block (a flow-stage run?)")
    with torch.no_grad():
        relations = pnb.relations(seen[-1])
    feature = seen[-1].shape[-2:]
    size = tuple(batch["target"].shape[-2:])
    titles = ["ground truth", "generated (query)"] + [f"relation map, {s}x{s} pool" for s in pnb.pools]
    fig, axes = _grid(len(batch["to"]), len(titles), titles)
    plt = pyplot()
    for row in range(len(batch["to"])):
        y, x = _query(batch["target_keypoints"][row], size)
        fy, fx = min(y * feature[0] // size[0], feature[0] - 1), min(x * feature[1] // size[1], feature[1] - 1)
        axes[row][0].imshow(_image(batch["target"][row]))
        axes[row][1].imshow(_image(fake[row]))
        cell = (size[0] / feature[0], size[1] / feature[1])
        axes[row][1].add_patch(plt.Rectangle((fx * cell[1] - 0.5, fy * cell[0] - 0.5), cell[1], cell[0],
                                             fill=False, edgecolor="red", linewidth=1.5))
        for ax, s, relation in zip(axes[row][2:], pnb.pools, relations):
            weights = relation[row, fy * feature[1] + fx].view(1, 1, s, s)
            heat = F.interpolate(weights, size=size, mode="nearest")[0, 0].cpu().numpy()
            ax.imshow(_image(fake[row]))
            ax.imshow(heat, cmap="jet", alpha=0.55, vmin=0, vmax=float(weights.max()))
    fig.suptitle(f"Tang et al. Fig. 7 redrawn: PNB relation maps ({run}, step {info['step']})", fontsize=8)
    return fig


def first_skip_counts(run: Path, dataset: Path, pairs_dir: Path | None = None, n: int = 16) -> np.ndarray:
    """Mean number of non-zero pixels per channel of the first (finest) image-branch skip after its gate."""
    layout, batch = _batch(dataset, pairs_dir, n)
    model, info = _model(run, layout.kind.name)
    stage_one = getattr(model.generator, "stage1", None)
    if stage_one is None or not hasattr(stage_one, "skip_gates"):
        raise BenchError(f"{run} ({info['model']}) is not a VDG model: Fig. 4 reads VDG Stage I's skip gates")
    from bench.train.generate import pin_stage

    pin_stage(model, 1)  # the masks sit on Stage I's skips
    _, seen = _forward_capturing(model, batch, stage_one.skip_gates[0], lambda args, out: out)
    return (seen[0] != 0).sum((2, 3)).double().mean(0).cpu().numpy()  # (channels,)


def lakhal_mask_counts(counts: dict[str, np.ndarray], pixels: int) -> "Figure":
    """Lakhal et al. Fig. 4: non-masked pixels per channel of the first convolutional block, one line per model."""
    from bench.figures import pyplot

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 3), dpi=100, layout="constrained")
    for label, values in counts.items():
        ax.plot(np.arange(1, len(values) + 1), values, label=label, linewidth=1)
    ax.axhline(pixels, color="grey", linewidth=0.5, linestyle=":")
    ax.set_xlabel("channel of the first convolutional block")
    ax.set_ylabel("non-masked pixels (mean over test pairs)")
    ax.set_title(f"Lakhal et al. Fig. 4 redrawn (all pixels: {pixels})", fontsize=9)
    ax.legend(fontsize=8)
    ax.spines[["top", "right"]].set_visible(False)
    return fig
