"""`bench evaluate`: score generated images against a dataset's test pairs."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from bench.errors import BenchError


def evaluate_cmd(
    generated_dir: Optional[Path] = typer.Argument(None, help="folder of generated images (not needed with --real-data)"),
    dataset: Path = typer.Option(..., "--dataset", help="dataset folder (real layout) with its prepared test pairs"),
    out: Path = typer.Option(..., "--out", help="result JSON; the per-pair CSV is written beside it"),
    pairs_dir: Optional[Path] = typer.Option(None, "--pairs-dir", help="folder holding pairs-test.csv (default: the dataset folder)"),
    metrics: Optional[str] = typer.Option(None, "--metrics", help="comma-separated metric names (default: every registered metric)"),
    protocol: str = typer.Option("paper", "--protocol", help="evaluation protocol: paper or modern"),
    estimator: str = typer.Option("none", "--estimator", help="pose estimator for PCKh: csv:PATH, heatmap:PATH, rtmpose (fetched on first use), rtmpose:PATH (ONNX) or none"),
    weights_dir: Optional[Path] = typer.Option(None, "--weights-dir", help="folder with pretrained metric weights"),
    cache_dir: Optional[Path] = typer.Option(None, "--cache-dir", help="folder for cached reference statistics (FID)"),
    allow_missing: bool = typer.Option(False, "--allow-missing", help="score the pairs that have an image; record the coverage"),
    real_data: bool = typer.Option(False, "--real-data", help="the 'Real Data' row: targets scored against themselves"),
    device: str = typer.Option("cpu", "--device", help="cpu or cuda[:N]"),
    fmt: str = typer.Option("auto", "--format", help="auto, single ({from}___{to}.png), patn (5-panel _vis.jpg) or gfla"),
    pattern: Optional[str] = typer.Option(None, "--pattern", help="file names of another release: {from}, {to} (file names), "
                                          "{from_stem}, {to_stem} (without extension), e.g. '{from_stem}_2_{to_stem}_vis.png'"),
    panel: Optional[str] = typer.Option(None, "--panel", help="i/n: each file is n frames side by side; score the i-th (e.g. 5/5)"),
    model: Optional[str] = typer.Option(None, "--model", help="model label in the record (default: the folder name)"),
    sources: int = typer.Option(0, "--sources", help="n >= 1: score the n-source test tuples (msource-test-k*.csv), from `bench generate --sources n`"),
    stage: int = typer.Option(0, "--stage", help="s >= 1: the images are stage s's output (`bench generate --stage s`); recorded as the setting"),
) -> None:
    """Score every test pair's generated image and write one JSON record (+ per-pair CSV)."""
    from bench.evaluate import EvalConfig, evaluate, format_table

    if generated_dir is None and not real_data:
        raise BenchError("give GENERATED_DIR, or --real-data to score the targets against themselves")
    names = tuple(n.strip() for n in metrics.split(",") if n.strip()) if metrics else None
    config = EvalConfig(
        generated_dir=generated_dir or Path("."), dataset=dataset, out=out, pairs_dir=pairs_dir, metrics=names,
        protocol=protocol, estimator=estimator, weights_dir=weights_dir, cache_dir=cache_dir,
        allow_missing=allow_missing, real_data=real_data, device=device, format=fmt, pattern=pattern, panel=panel,
        model=model, sources=sources, stage=stage,
    )
    result = evaluate(config)
    typer.echo(format_table(result.record))


def register(app: typer.Typer) -> None:
    app.command("evaluate")(evaluate_cmd)
