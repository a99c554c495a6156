"""`bench data ...`: synthesise, prepare and look at datasets."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

data_app = typer.Typer(help="Synthetic datasets, pair splits and contact sheets.", no_args_is_help=True)


@data_app.command("synth")
def synth_cmd(
    name: str = typer.Argument(..., help="synth-market or synth-fashion"),
    out: Path = typer.Option(..., "--out", help="dataset folder to write (real on-disk layout)"),
    seed: int = typer.Option(0, help="random seed; same seed, same bytes"),
    identities_train: Optional[int] = typer.Option(None, help="number of training identities"),
    identities_test: Optional[int] = typer.Option(None, help="number of test identities"),
) -> None:
    """Write a deterministic synthetic dataset (images + annotation CSVs)."""
    from bench.data.synth import synthesize

    synthesize(name, out, seed=seed, identities_train=identities_train, identities_test=identities_test)


@data_app.command("prepare")
def prepare_cmd(
    dataset: Optional[Path] = typer.Option(None, "--dataset", help="dataset folder (annotations and images found by layout)"),
    annotations_train: Optional[Path] = typer.Option(None, "--annotations-train", help="train annotation CSV"),
    annotations_test: Optional[Path] = typer.Option(None, "--annotations-test", help="test annotation CSV"),
    out: Path = typer.Option(..., "--out", help="folder for pairs-train.csv, pairs-test.csv and the manifest"),
) -> None:
    """Build the train/test pair splits with the original rule."""
    from bench.data.splits import prepare

    prepare(dataset=dataset, annotations_train=annotations_train, annotations_test=annotations_test, out=out)


@data_app.command("show")
def show_cmd(
    dataset: Path = typer.Argument(..., help="dataset folder"),
    out: Path = typer.Option(Path("contact-sheet.png"), "--out", help="PNG to write"),
    split: str = typer.Option("test", help="train or test"),
    n: int = typer.Option(8, help="number of pairs"),
    seed: int = typer.Option(0),
) -> None:
    """Write a PNG contact sheet of pairs with skeletons and masks overlaid."""
    from bench.data.show import contact_sheet

    contact_sheet(dataset, out, split=split, n=n, seed=seed)


def register(app: typer.Typer) -> None:
    app.add_typer(data_app, name="data")
