"""`bench report`: leaderboards, the seed papers' tables re-measured, and figures."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    @app.command("report")
    def report_cmd(
        metrics: Path = typer.Argument(Path("results/metrics"), help="folder of `bench evaluate` JSON records"),
        out: Path = typer.Option(Path("results"), "--out", help="folder for leaderboard.md/.tex, tables/, figures/"),
        published: Optional[Path] = typer.Option(Path("results/published.csv"), "--published",
                                                 help="published numbers (results/published.csv); '' to skip"),
        generated: Optional[list[str]] = typer.Option(
            None, "--generated", help="DATASET:MODEL=DIR of generated images, for the qualitative grids (repeatable)"),
        dataset: Optional[list[str]] = typer.Option(
            None, "--dataset", help="DATASET=ROOT[,PAIRS_DIR] dataset folder for the qualitative grids (repeatable)"),
    ) -> None:
        """Write results/leaderboard.md and .tex, results/tables/ and results/figures/."""
        from bench.errors import BenchError
        from bench.report import write_report

        grids: dict[str, dict[str, Path]] = {}
        for item in generated or []:
            name, sep, rest = item.partition(":")
            model, sep2, folder = rest.partition("=")
            if not (sep and sep2):
                raise BenchError(f"--generated expects DATASET:MODEL=DIR, got {item!r}")
            grids.setdefault(name, {})[model] = Path(folder)
        roots, pairs = {}, {}
        for item in dataset or []:
            name, sep, rest = item.partition("=")
            if not sep:
                raise BenchError(f"--dataset expects DATASET=ROOT[,PAIRS_DIR], got {item!r}")
            root, _, pairs_dir = rest.partition(",")
            roots[name] = Path(root)
            if pairs_dir:
                pairs[name] = Path(pairs_dir)
        written = write_report(metrics, out, published if published and str(published) else None, grids, roots, pairs)
        for path in written:
            typer.echo(f"wrote {path}")
