"""`bench weights ...`: which pretrained weights are present and where each is expected."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

weights_app = typer.Typer(help="Pretrained weights for IS/FID, LPIPS and perceptual losses: status, download, install.",
                          no_args_is_help=True)

_WEIGHTS_DIR_HELP = "extra folder to look in first (also $BENCH_WEIGHTS_DIR)"


@weights_app.command("status")
def status_cmd(
    weights_dir: Optional[Path] = typer.Option(None, "--weights-dir", help=_WEIGHTS_DIR_HELP),
    as_json: bool = typer.Option(False, "--json", help="print JSON instead of a table"),
) -> None:
    """List every weight: what uses it, whether it is present, where it is or was looked for, its URL."""
    from bench.weights import status

    rows = status(weights_dir)
    if as_json:
        typer.echo(json.dumps([row.to_dict() for row in rows], indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="pretrained weights")
    for column in ("name", "used by", "status", "path / searched", "download"):
        table.add_column(column, overflow="fold")
    for row in rows:
        where = str(row.path) if row.path else "\n".join(str(d) for d in row.searched)
        state = "[red]missing[/]" if not row.path else f"[red]refused: {row.problem}[/]" if row.problem else "[green]present[/]"
        table.add_row(row.spec.name, row.spec.used_by, state, where, row.spec.url)
    Console().print(table)  # width: the terminal's, or $COLUMNS


@weights_app.command("install")
def install_cmd(
    files: list[Path] = typer.Argument(..., help="weights files fetched elsewhere, under their original names"),
    to: Optional[Path] = typer.Option(None, "--to", help="destination folder (default: the torch hub cache)"),
) -> None:
    """Copy local weights files where the libraries look for them, after checking their names (and hashes)."""
    from bench.weights import install

    for path in files:
        typer.echo(str(install(path, to)))


@weights_app.command("download")
def download_cmd(
    names: Optional[list[str]] = typer.Argument(None, help="weights to fetch (see `bench weights status`)"),
    all_: bool = typer.Option(False, "--all", help="every weight the project uses"),
    to: Optional[Path] = typer.Option(None, "--to", help="destination folder (default: the torch hub cache)"),
    mirror: Optional[str] = typer.Option(None, "--mirror", help="base URL of a copy of the files (default: the published URLs)"),
    quiet: bool = typer.Option(False, "--quiet", help="no progress bar"),
) -> None:
    """Download weights on a connected machine, check size and sha256, and put them where the libraries look."""
    from bench.errors import BenchError
    from bench.weights import WEIGHTS, download

    chosen = list(WEIGHTS) if all_ else list(names or [])
    if not chosen:
        raise BenchError("name the weights to download, or pass --all; known: " + ", ".join(WEIGHTS))
    unknown = [n for n in chosen if n not in WEIGHTS]
    if unknown:
        raise BenchError(f"unknown weights {', '.join(unknown)}; known: {', '.join(WEIGHTS)}")
    for name in chosen:
        typer.echo(str(download(name, to, mirror=mirror, progress=not quiet)))


def register(app: typer.Typer) -> None:
    app.add_typer(weights_app, name="weights")
