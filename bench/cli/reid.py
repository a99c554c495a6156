"""`bench reid ...`: PoNA Table VI, generated images as re-ID training data (bench.reid).

    bench reid split --dataset data/synth-market --p 0.2 --out reid/splits/synth-market/p20
    bench reid generate pona --dataset data/synth-market --split reid/splits/synth-market/p20 \
        --checkpoint runs/pona/synth-market --out reid/generated/pona/synth-market/p20
    bench reid train --dataset data/synth-market --split reid/splits/synth-market/p20 \
        [--generated reid/generated/pona/synth-market/p20] --out reid/runs/pona/synth-market/p20
    bench reid evaluate reid/runs/pona/synth-market/p20 --dataset data/synth-market --generator pona --p 0.2 --out R.json
    bench reid table results/reid --out results/tables
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer

reid_app = typer.Typer(help="PoNA Table VI: reduced Market training sets, regenerated images, re-ID rank-1/mAP.",
                       no_args_is_help=True)


@reid_app.command("split")
def split_cmd(dataset: Path = typer.Option(..., "--dataset"), p: float = typer.Option(..., "--p", help="portion kept, (0, 1]"),
              out: Path = typer.Option(..., "--out"), seed: int = typer.Option(0, "--seed")) -> None:
    """Keep a seeded portion p of every identity's training images; record the rest and their sources."""
    from bench.reid.split import write_split

    split = write_split(dataset, p, out, seed)
    typer.echo(f"{out}: kept {len(split.kept)}, removed {len(split.removed)} of {split.identities} identities")


@reid_app.command("generate")
def generate_cmd(model: str = typer.Argument(..., help="registered generator"),
                 dataset: Path = typer.Option(..., "--dataset"), split: Path = typer.Option(..., "--split"),
                 out: Path = typer.Option(..., "--out"),
                 checkpoint: Optional[Path] = typer.Option(None, "--checkpoint", help="run folder (not for reference rows)"),
                 batch_size: int = typer.Option(8, "--batch-size"), device: str = typer.Option("auto", "--device")) -> None:
    """Render each removed image from its kept source in the removed image's pose."""
    from bench.reid.generate import generate_missing

    typer.echo(str(generate_missing(model, dataset, split, out, checkpoint, batch_size, device, progress=sys.stderr.isatty())))


@reid_app.command("train")
def train_cmd(dataset: Path = typer.Option(..., "--dataset"), split: Path = typer.Option(..., "--split"),
              out: Path = typer.Option(..., "--out"),
              generated: Optional[Path] = typer.Option(None, "--generated", help="generated folder to add (omit: 'None' row)"),
              profile: str = typer.Option("cpu", "--profile", help="cpu (1/8 width, from scratch) or paper"),
              epochs: Optional[int] = typer.Option(None, "--epochs"),
              init: Optional[str] = typer.Option(None, "--init", help="auto, imagenet or scratch"),
              weights_dir: Optional[Path] = typer.Option(None, "--weights-dir")) -> None:
    """Train the ResNet-50 identity classifier on the kept (+ generated) images."""
    from bench.reid.train import train_cell

    meta = train_cell(dataset, split, out, generated, profile, weights_dir, epochs=epochs, init=init)
    typer.echo(f"{out}: {meta['images']} images, {meta['identities']} identities, {meta['init_label']}, {meta['seconds']} s")


@reid_app.command("evaluate")
def evaluate_cmd(run: Path = typer.Argument(..., help="run folder of `bench reid train`"),
                 dataset: Path = typer.Option(..., "--dataset", help="root with query/ and bounding_box_test/ (or test/)"),
                 generator: str = typer.Option(..., "--generator", help="row name: none or the generator"),
                 p: float = typer.Option(..., "--p"), out: Path = typer.Option(..., "--out"),
                 ap: str = typer.Option("market", "--ap", help="AP convention: market (compute_AP.m trapezoid) or step")) -> None:
    """Rank-1/5/10 and mAP on query/gallery (Market protocol) as a JSON record."""
    from bench.reid.train import write_record

    record = write_record(run, dataset, out, generator, p, ap)
    typer.echo(json.dumps(record["metrics"]))


@reid_app.command("table")
def table_cmd(records: Path = typer.Argument(Path("results/reid")), out: Path = typer.Option(Path("results/tables"), "--out"),
              published: Path = typer.Option(Path("results/published.csv"), "--published")) -> None:
    """Table VI, one row per (generator, p), measured beside published."""
    from bench.reid.table import write_table

    for path in write_table(records, published, out):
        typer.echo(str(path))


def register(app: typer.Typer) -> None:
    app.add_typer(reid_app, name="reid")
