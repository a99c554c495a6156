"""`bench compare`: models side by side on one dataset, with paired bootstrap CIs."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import List, Optional

import typer

from bench.errors import BenchError

FORMATS = ("table", "md", "latex", "json")


def compare_cmd(
    models: List[str] = typer.Argument(..., help="two or more of: NAME or NAME@SETTING (e.g. msdefgan@n=3, vdg@stage-1; looked up under --results), PATH.json, LABEL=PATH.json; "
                                                 "differences are to the first"),
    dataset: Optional[str] = typer.Option(None, "--dataset", help="dataset name as in results/metrics/<model>/<dataset>.json "
                                                                  "(or the dataset kind: market, deepfashion)"),
    results: Path = typer.Option(Path("results/metrics"), "--results", help="folder of evaluation records, one folder per model"),
    protocol: str = typer.Option("paper", "--protocol", help="evaluation protocol of the records to compare"),
    fmt: str = typer.Option("table", "--format", help="table (terminal), md, latex or json"),
    n_boot: int = typer.Option(10000, "--n-boot", help="bootstrap resamples"),
    seed: int = typer.Option(0, "--seed", help="bootstrap random seed"),
    ci: float = typer.Option(0.95, "--ci", help="confidence level of the intervals"),
) -> None:
    """Compare evaluation results of two or more models; per-pair metrics get paired bootstrap CIs."""
    from bench.compare import compare, resolve, rich_table, to_json, to_latex, to_markdown

    if fmt not in FORMATS:
        raise BenchError(f"unknown --format {fmt!r}; valid: {', '.join(FORMATS)}")
    if len(models) < 2:
        raise BenchError("give at least two models to compare")
    loaded = [resolve(spec, results, dataset, protocol) for spec in models]
    comparison = compare(loaded, dataset, n_boot=n_boot, seed=seed, ci=ci)
    if fmt == "table":
        from rich.console import Console

        # rich assumes 80 columns when stdout is not a terminal; the table needs a bit more.
        Console(width=None if sys.stdout.isatty() else 120).print(rich_table(comparison))
    elif fmt == "md":
        typer.echo(to_markdown(comparison), nl=False)
    elif fmt == "latex":
        typer.echo(to_latex(comparison), nl=False)
    else:
        typer.echo(json.dumps(to_json(comparison), indent=2, allow_nan=False))


def register(app: typer.Typer) -> None:
    app.command("compare")(compare_cmd)
