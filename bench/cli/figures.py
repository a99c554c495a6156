"""`bench figure` (the papers' qualitative grid) and `bench plot bars|curves`."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional

import typer

from bench.errors import BenchError

plot_app = typer.Typer(help="Bar charts of metrics across models and training-loss curves.", no_args_is_help=True)


def _named_dirs(specs: list[str]) -> dict[str, Path]:
    out: dict[str, Path] = {}
    for spec in specs:
        label, sep, folder = spec.partition("=")
        if not sep or not label or not folder:
            raise BenchError(f"--generated {spec!r}: expected MODEL=DIR")
        if label in out:
            raise BenchError(f"--generated: model {label!r} given twice")
        out[label] = Path(folder)
    return out


def _pairs(specs: list[str]) -> list[tuple[str, str]]:
    pairs = []
    for spec in specs:
        parts = [p.strip() for p in spec.split(",")]
        if len(parts) != 2 or not all(parts):
            raise BenchError(f"--pair {spec!r}: expected FROM,TO (two image names)")
        pairs.append((parts[0], parts[1]))
    return pairs


def figure_cmd(
    dataset: Path = typer.Option(..., "--dataset", help="dataset folder (release layout)"),
    generated: List[str] = typer.Option(..., "--generated", help="MODEL=DIR of generated test images; repeat per model (column order)"),
    out: Path = typer.Option(..., "--out", help="figure file, .png or .pdf"),
    pairs_dir: Optional[Path] = typer.Option(None, "--pairs-dir", help="folder holding pairs-test.csv (default: the dataset folder)"),
    n_pairs: int = typer.Option(4, "--pairs", help="number of random test pairs (rows), ignored with --pair"),
    pair: List[str] = typer.Option([], "--pair", help="FROM,TO test pair to show; repeat for more rows"),
    seed: int = typer.Option(0, "--seed", help="seed of the random pair choice"),
    scale: Optional[int] = typer.Option(None, "--scale", help="integer enlargement (default: about 256 px high)"),
) -> None:
    """Qualitative grid: source | target pose | ground truth | each model's output, one row per pair."""
    from bench.figures import check_figure_paths, qualitative_figure, save_figure

    check_figure_paths(out)  # before decoding anything
    fig, shown = qualitative_figure(dataset, _named_dirs(generated), pairs_dir, _pairs(pair), n_pairs, seed, scale)
    save_figure(fig, out)
    for a, b in shown:
        print(f"  {a} -> {b}", file=sys.stderr)
    typer.echo(f"{out}: {len(shown)} pairs x {len(generated)} models")


@plot_app.command("bars")
def bars_cmd(
    dataset: str = typer.Option(..., "--dataset", help="dataset name as in results/metrics/<model>/<dataset>.json (or its kind)"),
    out: Path = typer.Option(..., "--out", help="folder for one chart per metric"),
    results: Path = typer.Option(Path("results/metrics"), "--results", help="folder of evaluation records"),
    protocol: str = typer.Option("paper", "--protocol", help="evaluation protocol of the records"),
    fmt: str = typer.Option("png", "--format", help="png or pdf"),
) -> None:
    """One bar chart per metric across models."""
    from bench.figures import bar_charts

    if fmt not in ("png", "pdf"):
        raise BenchError(f"unknown --format {fmt!r}; valid: png, pdf")
    for path in bar_charts(results, dataset, out, protocol, f".{fmt}"):
        typer.echo(str(path))


@plot_app.command("curves")
def curves_cmd(
    runs: List[Path] = typer.Argument(..., help="run folders of `bench train` (their train_log.csv) or log CSVs"),
    out: Path = typer.Option(..., "--out", help="figure file, .png or .pdf"),
) -> None:
    """Training-loss curves, one panel per network (G, each discriminator)."""
    from bench.figures import check_figure_paths, loss_curves, save_figure

    check_figure_paths(out)
    save_figure(loss_curves(runs), out)
    typer.echo(str(out))


def register(app: typer.Typer) -> None:
    app.command("figure")(figure_cmd)
    app.add_typer(plot_app, name="plot")
