"""The results folder a user reads after ``dvc repro``.

``write_report`` turns the evaluation records under ``results/metrics`` into:

- ``leaderboard.md`` / ``leaderboard.tex``: every measured model on every dataset
  (one table per protocol; ↑/↓ headers, best bold, second underlined);
- ``tables/<paper>-<table>.md`` / ``.tex``: each published table of the five seed
  papers in its own layout, each cell "measured (published)";
- ``figures/``: bar charts per metric and dataset, and a qualitative grid per
  dataset when generated images are given.

Numbers measured on the synthetic datasets are not comparable with the published
ones; the headers say which dataset folder a measured value comes from.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from bench.errors import BenchError
from bench.io import atomic_write_text
from bench.leaderboard import (estimator_note, latex_comment, load_published, load_results, paper_table, render_latex,
                               render_markdown)
from bench.metrics.specs import column_order


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _dataset_names(ours: pd.DataFrame) -> dict[str, str]:
    """Which dataset folders each kind was measured on (from the records' dataset roots)."""
    known = ours.dropna(subset=["dataset_folder"])
    return {kind: ", ".join(sorted(set(group["dataset_folder"]))) for kind, group in known.groupby("dataset")}


def leaderboard(ours: pd.DataFrame, datasets: Mapping[str, str]) -> tuple[str, str]:
    """Markdown and LaTeX of all measured models, one section per protocol."""
    md, tex = ["# Leaderboard", ""], []
    sources = "; ".join(f"{kind}: measured on {name}" for kind, name in sorted(datasets.items()))
    for protocol, rows in ours.groupby("protocol", sort=True):
        metrics = column_order(rows["metric"])
        md += [f"## Protocol `{protocol}`", "", f"Datasets — {sources}.", "",
               render_markdown(rows, metrics=metrics).rstrip(), ""]
        tex += [f"% protocol {protocol}; {sources}", latex_comment(estimator_note(rows)) + render_latex(rows, metrics=metrics)]
    unavailable = ours[ours["value"].isna() & ours["reason"].notna()].drop_duplicates("metric")
    if len(unavailable):
        md += ["## Unavailable metrics (n/a)", ""]
        md += [f"- **{r.metric}**: {r.reason}" for r in unavailable.itertuples()]
        md.append("")
    return "\n".join(md), "\n".join(tex)


def paper_tables(published: pd.DataFrame, ours: pd.DataFrame, out: Path) -> list[Path]:
    """Every published table re-rendered with measured values beside the published ones."""
    written = []
    for (paper, table), _ in published.groupby(["paper", "table"], sort=False):
        md, tex = paper_table(published, ours, paper, table)
        stem = out / f"{paper}-{_slug(table)}"
        atomic_write_text(stem.with_suffix(".md"), f"# {paper}, {table}\n\n{md}")
        atomic_write_text(stem.with_suffix(".tex"), tex)
        written += [stem.with_suffix(".md"), stem.with_suffix(".tex")]
    return written


def write_report(metrics_dir: str | Path, out: str | Path, published_csv: str | Path | None = None,
                 generated: Mapping[str, Mapping[str, Path]] | None = None,
                 dataset_roots: Mapping[str, Path] | None = None, pairs_dirs: Mapping[str, Path] | None = None,
                 runs: Mapping[str, Mapping[str, Path]] | None = None) -> list[Path]:
    """Write leaderboards, paper tables and figures into ``out``; return the files written.

    ``generated`` maps dataset name -> {model: folder of generated images}; with
    ``dataset_roots`` (and ``pairs_dirs``) it adds one qualitative grid per dataset
    (PNG and PDF). ``runs`` maps dataset name -> {model: run folder}: one
    training-loss figure per run that logged losses, ``figures/loss/<dataset>/<model>.png``.
    """
    metrics_dir, out = Path(metrics_dir), Path(out)
    ours = load_results(metrics_dir)
    if ours.empty:
        raise BenchError(f"no evaluation records under {metrics_dir}: run `bench evaluate` first")
    md, tex = leaderboard(ours, _dataset_names(ours))
    atomic_write_text(out / "leaderboard.md", md)
    atomic_write_text(out / "leaderboard.tex", tex)
    written = [out / "leaderboard.md", out / "leaderboard.tex"]
    if published_csv is not None:
        written += paper_tables(load_published(published_csv), ours, out / "tables")
    written += _figures(metrics_dir, ours, out / "figures", generated or {}, dataset_roots or {}, pairs_dirs or {})
    written += _loss_figures(runs or {}, out / "figures" / "loss")
    written += _paper_figures(runs or {}, dataset_roots or {}, pairs_dirs or {}, out)
    return written


def _figures(metrics_dir: Path, ours: pd.DataFrame, out: Path, generated, roots, pairs_dirs) -> list[Path]:
    from bench.figures import bar_charts, qualitative_figure, save_figure

    written = []
    default = ours[ours["setting"].fillna("") == ""] if "setting" in ours else ours  # bars: one per model
    for (kind, protocol), _ in default.groupby(["dataset", "protocol"]):
        written += bar_charts(metrics_dir, kind, out / f"bars-{kind}-{protocol}", protocol=protocol, kind="output")
    for name, models in generated.items():
        if name in roots and models:
            figure, _ = qualitative_figure(roots[name], dict(models), pairs_dirs.get(name), n=4, seed=0)
            written.append(save_figure(figure, out / f"samples-{name}.png", out / f"samples-{name}.pdf", kind="output"))
    return written


FIG4_MODELS = {"vdg": "No-mask", "vdg-munet": "mUNet", "vdg-munet-o": "mUNet_o", "vdg-munet-g": "mUNet_g"}


def _trained(run: Path | None) -> bool:
    from bench.train.generate import checkpoint_file

    try:
        return run is not None and checkpoint_file(run).is_file()
    except BenchError:
        return False


def _paper_figures(runs: Mapping[str, Mapping[str, Path]], roots, pairs_dirs, out: Path) -> list[Path]:
    """The seed papers' analysis figures from trained runs: SDGAN Fig. 5, Tang Fig. 7, Lakhal Fig. 4 (+ its table)."""
    from bench.figures import save_figure
    from bench.paper_figures import first_skip_counts, lakhal_mask_counts, sdgan_scales, tang_relations

    written = []
    for dataset, models in runs.items():
        if dataset not in roots:
            continue
        root, pairs = roots[dataset], pairs_dirs.get(dataset)
        if _trained(models.get("sdgan")):
            written.append(save_figure(sdgan_scales(models["sdgan"], root, pairs), out / "figures" / f"sdgan-fig5-{dataset}.png", kind="output"))
        if _trained(models.get("partflow")):
            written.append(save_figure(tang_relations(models["partflow"], root, pairs),
                                       out / "figures" / f"tang2021-fig7-{dataset}.png", kind="output"))
        counts = {label: first_skip_counts(models[m], root, pairs) for m, label in FIG4_MODELS.items() if _trained(models.get(m))}
        if counts:
            from bench.data.layout import DatasetLayout

            h, w = DatasetLayout.open(root, pairs).kind.image_size
            written.append(save_figure(lakhal_mask_counts(counts, h * w), out / "figures" / f"lakhal2018munet-fig4-{dataset}.png", kind="output"))
            rows = [f"| {label} | {len(c)} | {c.mean():.1f} | {c.min():.1f} | {c.max():.1f} | {100 * (1 - c.mean() / (h * w)):.1f} |"
                    for label, c in counts.items()]
            text = (f"# lakhal2018munet, Fig. 4 (as numbers), {dataset}\n\n"
                    "Non-masked (non-zero) pixels per channel of the first encoder block's skip feature after its mask, "
                    f"mean over the first test pairs; all pixels: {h * w} ({h}x{w}). The paper: about 8192 (128x64) for "
                    "No-mask, about half for the dense masks, 40-60% masked for mUNet_g. Measured on the trained runs of "
                    f"this pipeline ({dataset}): not a reproduction when the runs are short.\n\n"
                    "| Model | channels | mean | min | max | masked (%) |\n|:--|--:|--:|--:|--:|--:|\n" + "\n".join(rows) + "\n")
            path = out / "tables" / f"lakhal2018munet-fig-4-{dataset}.md"
            atomic_write_text(path, text)
            written.append(path)
    return written


def _loss_figures(runs: Mapping[str, Mapping[str, Path]], out: Path) -> list[Path]:
    from bench.figures import loss_curves, loss_groups, save_figure
    from bench.train.log import LOG, read_train_log

    written = []
    for dataset, models in runs.items():
        for model, run in models.items():
            log = run / LOG
            # Reference rows log nothing; a run killed before its first log row has no curve yet.
            if not log.exists() or len(log.read_text(encoding="utf-8").splitlines()) < 2:
                continue
            if not loss_groups(list(read_train_log(log))):
                continue
            written.append(save_figure(loss_curves([run]), out / dataset / f"{model}.png", kind="output"))
    return written
