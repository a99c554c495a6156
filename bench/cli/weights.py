"""`bench weights ...`: which pretrained weights are present and where each is expected."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

weights_app = typer.Typer(help="Pretrained weights for IS/FID, LPIPS and perceptual losses (never downloaded).",
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
        state = "[green]present[/]" if row.path else "[red]missing[/]"
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


def register(app: typer.Typer) -> None:
    app.add_typer(weights_app, name="weights")
