"""Figures: the papers' qualitative grid, bar charts per metric and training-loss curves.

* :func:`qualitative_figure`: one row per test pair, columns source | target pose
  (skeleton on black) | ground truth | each model's output, as in the PG2/PATN/PoNA
  figures. Images are placed pixel-exactly (integer enlargement, nearest
  neighbour, ``figimage``: no resampling), so the PNG shows every dataset pixel as a
  ``scale`` x ``scale`` block.
* :func:`bar_charts`: one chart per metric across models, from evaluation records.
* :func:`loss_curves`: the trainer's ``train_log.csv`` (``step, lr_g, lr_d,
  G/<term>..., <disc>/<term>..., seconds``), one panel per network.

Everything is drawn with matplotlib's Agg backend and written atomically; the
suffix of the output file picks the format (.png or .pdf).
"""
from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from bench.data.annotations import read_annotations, read_pairs
from bench.data.layout import DatasetLayout
from bench.errors import BenchError, DataError
from bench.io import IMAGE, SIGNATURE, atomic_path, check_replaceable
from bench.train.log import LOG, NOT_LOSSES, read_train_log

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

Pair = tuple[str, str]
DPI = 100
GAP = 4  # pixels between panels
TITLE = 22  # pixels of the column-title band
SUFFIXES = (".png", ".pdf")


def pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only; never a window
    import matplotlib.pyplot as plt

    return plt


def check_figure_paths(*paths: Path, kind: str = IMAGE) -> None:
    """Before drawing: each path ends in .png or .pdf and replaces nothing but an earlier figure (``kind``)."""
    for path in map(Path, paths):
        if path.suffix.lower() not in SUFFIXES:
            raise BenchError(f"{path}: figure files must end in {' or '.join(SUFFIXES)}")
        check_replaceable(path, as_dir=False, kind=kind)


def save_figure(fig: "Figure", out: Path, *also: Path, kind: str = IMAGE) -> Path:
    """Write ``fig`` to ``out`` (and to each of ``also``; format from the suffix) atomically and close it.

    Figures are signed (PNG ``Software``, PDF ``Creator``: :data:`bench.io.SIGNATURE`), so an
    existing file at a figure's path is replaced only if bench drew it; the report, which owns
    its output folder, passes ``kind="output"``."""
    outs = [Path(out), *map(Path, also)]
    try:
        check_figure_paths(*outs, kind=kind)
        for path in outs:
            fmt = path.suffix.lower()[1:]
            with atomic_path(path, kind) as tmp:
                fig.savefig(tmp, format=fmt, dpi=DPI, facecolor="white",
                            metadata={"Software" if fmt == "png" else "Creator": SIGNATURE})
    finally:
        pyplot().close(fig)
    return outs[0]


# ----------------------------------------------------------------------------- qualitative grid


@dataclass(frozen=True)
class PanelGrid:
    """Pixel geometry of a rows x cols grid of equal panels under a title band."""
    rows: int
    cols: int
    panel: tuple[int, int]  # (height, width) of one enlarged image
    gap: int = GAP
    title: int = TITLE

    @property
    def size(self) -> tuple[int, int]:
        """(height, width) of the whole figure in pixels."""
        h, w = self.panel
        return self.title + self.rows * (h + self.gap), self.gap + self.cols * (w + self.gap)

    def origin(self, row: int, col: int) -> tuple[int, int]:
        """(top, left) pixel of a panel."""
        h, w = self.panel
        return self.title + row * (h + self.gap), self.gap + col * (w + self.gap)


def choose_pairs(pairs: list[Pair], available: set[Pair], chosen: list[Pair] | None, n: int, seed: int) -> list[Pair]:
    """The requested pairs (checked), or ``n`` random pairs that every model has, in test-file order."""
    if chosen:
        known = set(pairs)
        for pair in chosen:
            if pair not in known:
                raise BenchError(f"pair {pair[0]},{pair[1]} is not a test pair of this dataset")
            if pair not in available:
                raise BenchError(f"pair {pair[0]},{pair[1]} has no generated image for every model")
        return list(chosen)
    candidates = [p for p in pairs if p in available]
    if not candidates:
        raise BenchError("no test pair has a generated image for every model")
    picked = set(random.Random(seed).sample(range(len(candidates)), min(n, len(candidates))))
    return [p for i, p in enumerate(candidates) if i in picked]


def _generated_images(generated: dict[str, Path], pairs: list[Pair],
                      size: tuple[int, int]) -> tuple[set[Pair], Callable[[str, Pair], np.ndarray]]:
    """Pairs every model has, and a loader ``(label, pair) -> image`` (any ``bench evaluate`` naming)."""
    from bench.data.images import load_image
    from bench.evaluate import composite_panel, discover

    found = {label: discover(Path(folder), pairs) for label, folder in generated.items()}
    files = {label: {pairs[i]: path for i, path in d.files.items()} for label, d in found.items()}
    common = set(pairs).intersection(*(set(f) for f in files.values()))

    def load(label: str, pair: Pair) -> np.ndarray:
        path = files[label][pair]
        if found[label].format == "patn":
            return composite_panel(load_image(path), size, path)
        return load_image(path, size)

    return common, load


def qualitative_figure(dataset: Path, generated: dict[str, Path], pairs_dir: Path | None = None,
                       chosen: list[Pair] | None = None, n: int = 4, seed: int = 0,
                       scale: int | None = None) -> tuple["Figure", list[Pair]]:
    """The grid figure and the pairs it shows."""
    from bench.data.draw import pose_image
    from bench.data.images import load_image
    from bench.data.show import display_scale

    if not generated:
        raise BenchError("give at least one --generated MODEL=DIR")
    layout = DatasetLayout.open(dataset, pairs_dir)
    size = layout.kind.image_size
    pairs = read_pairs(layout.pairs("test"))
    common, load_generated = _generated_images(generated, pairs, size)
    shown = choose_pairs(pairs, common, chosen, n, seed)
    keypoints = read_annotations(layout.annotations("test"), image_size=size)
    scale = scale or display_scale(size)
    titles = ["source", "target pose", "ground truth", *generated]
    grid = PanelGrid(len(shown), len(titles), (size[0] * scale, size[1] * scale))
    plt = pyplot()
    height, width = grid.size
    fig = plt.figure(figsize=(width / DPI, height / DPI), dpi=DPI)
    for col, title in enumerate(titles):
        left = grid.origin(0, col)[1] + grid.panel[1] / 2
        fig.text(left / width, 1 - (grid.title / 2) / height, title, ha="center", va="center", fontsize=9)
    folder = layout.images("test")
    for row, (a, b) in enumerate(shown):
        if b not in keypoints:
            raise DataError(layout.annotations("test"), f"no keypoints for target {b}")
        panels = [load_image(folder / a, size), pose_image(keypoints[b], size), load_image(folder / b, size),
                  *(load_generated(label, (a, b)) for label in generated)]
        for col, image in enumerate(panels):
            top, left = grid.origin(row, col)
            # figimage places pixels as they are (no resampling); offsets count from the bottom left.
            fig.figimage(np.repeat(np.repeat(image, scale, axis=0), scale, axis=1),
                         xo=left, yo=height - top - grid.panel[0], origin="upper")
    return fig, shown


# ----------------------------------------------------------------------------- bar charts


def select_results(frame: "pd.DataFrame", dataset: str, protocol: str) -> "pd.DataFrame":
    """Rows of :func:`bench.leaderboard.load_results` for one dataset (file/folder name, else kind) and protocol,
    in the default setting (one bar per model; results in other settings are in the tables)."""
    if "setting" in frame:
        frame = frame[frame["setting"].fillna("") == ""]
    named = frame["file"].map(lambda f: Path(f).stem == dataset or Path(f).parent.name == dataset)
    rows = frame[named] if named.any() else frame[frame["dataset"] == dataset]
    rows = rows[rows["protocol"] == protocol]
    if rows.empty:
        have = sorted({f"{Path(f).parent.name}/{Path(f).stem} ({p})" for f, p in zip(frame["file"], frame["protocol"])})
        raise BenchError(f"no results for dataset {dataset!r} under protocol {protocol!r} (have: {', '.join(have) or 'none'})")
    dupes = rows[rows.duplicated(["model", "metric"], keep=False)]
    if len(dupes):
        first = dupes.iloc[0]
        files = ", ".join(sorted(set(dupes[dupes["model"] == first["model"]]["file"])))
        raise BenchError(f"several results for model {first['model']} on {dataset}: {files}")
    return rows


def bar_chart(rows: "pd.DataFrame", metric: str) -> "Figure":
    """Bars of one metric across models; the best bar darker, unavailable models marked n/a."""
    from bench.leaderboard import higher_is_better
    from bench.metrics.specs import metric_label

    plt = pyplot()
    rows = rows[rows["metric"] == metric]
    models, values = list(rows["model"]), [float(v) for v in rows["value"]]
    higher = rows["higher_is_better"].dropna()
    higher = bool(higher.iloc[0]) if len(higher) else higher_is_better(metric)
    present = [v for v in values if not np.isnan(v)]
    best = (max if higher else min)(present) if present and higher is not None else None
    fig, ax = plt.subplots(figsize=(max(3.0, 0.8 * len(models) + 1.5), 3.0), dpi=DPI, layout="constrained")
    colours = ["#1f4e79" if v == best else "#7ea6cf" for v in values]
    bars = ax.bar(range(len(models)), [0 if np.isnan(v) else v for v in values], color=colours)
    for bar, v in zip(bars, values):
        ax.annotate("n/a" if np.isnan(v) else f"{v:.4g}", (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                    ha="center", va="bottom", fontsize=8, xytext=(0, 2), textcoords="offset points")
    ax.set_xticks(range(len(models)), models, rotation=30 if len(models) > 4 else 0, ha="right" if len(models) > 4 else "center")
    direction = "" if higher is None else (" (higher is better)" if higher else " (lower is better)")
    ax.set_title(metric_label(metric) + direction, fontsize=10)
    ax.margins(y=0.15)
    ax.spines[["top", "right"]].set_visible(False)
    return fig


def bar_charts(results: Path, dataset: str, out: Path, protocol: str = "paper", suffix: str = ".png",
               kind: str = IMAGE) -> list[Path]:
    """One chart per metric (``out/<metric><suffix>``) from the evaluation records under ``results``."""
    from bench.leaderboard import load_results

    rows = select_results(load_results(results), dataset, protocol)
    written = []
    for metric in dict.fromkeys(rows["metric"]):
        written.append(save_figure(bar_chart(rows, metric), Path(out) / f"{metric}{suffix}", kind=kind))
    return written


# ----------------------------------------------------------------------------- training curves


def run_log(run: Path) -> tuple[str, Path]:
    """(label, log file) of a run folder (its meta.json names the model) or of a log CSV given directly."""
    run = Path(run)
    if run.suffix == ".csv":
        return run.stem, run
    label = run.name
    meta = run / "meta.json"
    if meta.exists():
        model = json.loads(meta.read_text(encoding="utf-8")).get("model")
        label = f"{model} ({run.name})" if model and model != run.name else label
    return label, run / LOG


def loss_groups(columns: list[str]) -> dict[str, list[str]]:
    """Loss terms by network: ``G/l1`` -> G, ``D_PP/real`` -> D_PP; terms without a prefix -> loss."""
    groups: dict[str, list[str]] = {}
    for name in columns:
        if name not in NOT_LOSSES:
            groups.setdefault(name.split("/", 1)[0] if "/" in name else "loss", []).append(name)
    return groups


def loss_totals(log: dict[str, np.ndarray]) -> str:
    """CSV ``step,G,D`` of a read training log: G = the generator's optimised loss (its
    terms summed), D = the discriminators' (blank for a model without one). One
    column per curve, as ``dvc plots`` wants, whatever terms the model logs."""
    groups = loss_groups(list(log))
    d_terms = [t for g, terms in groups.items() if g != "G" for t in terms]
    lines = ["step,G,D"]
    for i, step in enumerate(log["step"]):
        g = sum(log[t][i] for t in groups.get("G", []))
        d = repr(float(sum(log[t][i] for t in d_terms))) if d_terms else ""
        lines.append(f"{int(step)},{float(g)!r},{d}")
    return "\n".join(lines) + "\n"


def loss_curves(runs: list[Path]) -> "Figure":
    """One panel per network; colour = loss term, line style = run."""
    plt = pyplot()
    logs = [(label, read_train_log(path)) for label, path in map(run_log, runs)]
    groups: dict[str, list[str]] = {}
    for _, log in logs:
        for group, terms in loss_groups(list(log)).items():
            groups.setdefault(group, [])
            groups[group] += [t for t in terms if t not in groups[group]]
    if not groups:
        raise BenchError("the training logs have no loss columns (only step/lr/seconds)")
    groups = dict(sorted(groups.items(), key=lambda item: (item[0] != "G", item[0])))  # generator first
    styles = ["-", "--", ":", "-."]
    fig, axes = plt.subplots(len(groups), 1, figsize=(6.4, 2.4 * len(groups)), dpi=DPI, sharex=True,
                             layout="constrained", squeeze=False)
    for ax, (group, terms) in zip(axes[:, 0], groups.items()):
        for r, (label, log) in enumerate(logs):
            for c, term in enumerate(terms):
                if term in log:
                    name = term.split("/", 1)[-1] + (f" · {label}" if len(logs) > 1 else "")
                    ax.plot(log["step"], log[term], styles[r % len(styles)], color=f"C{c}", label=name, linewidth=1.2)
        ax.set_ylabel(group)
        ax.legend(fontsize=7, loc="upper right")
        ax.grid(alpha=0.3)
    axes[-1, 0].set_xlabel("iteration")
    if len(logs) == 1:
        fig.suptitle(logs[0][0], fontsize=10)
    return fig
