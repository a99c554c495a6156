"""`bench data ...`: synthesise, prepare and look at datasets."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

data_app = typer.Typer(help="Synthetic datasets, pair splits and contact sheets.", no_args_is_help=True)


@data_app.command("synth")
def synth_cmd(
    name: str = typer.Argument(..., help="synth-market, synth-fashion or synth-fashion-posegan (pose-gan's 256x256 layout)"),
    out: Path = typer.Option(..., "--out", help="dataset folder to write (real on-disk layout)"),
    seed: int = typer.Option(0, help="random seed; same seed, same bytes"),
    identities_train: Optional[int] = typer.Option(None, help="number of training identities (default: market 60, fashion 30)"),
    identities_test: Optional[int] = typer.Option(None, help="number of test identities (default: market 12, fashion 8)"),
    images_per_identity: Optional[int] = typer.Option(None, help="images of every identity (default: drawn per identity, market 4-7, fashion 3-6)"),
    multi_source_identities: int = typer.Option(0, help="the first K identities of each split get --multi-source-images images (n-source tuples need n + 1)"),
    multi_source_images: int = typer.Option(0, help="images of each of those identities (e.g. 13 for 12 training sources)"),
) -> None:
    """Write a deterministic synthetic dataset (images + annotation CSVs)."""
    from bench.data.synth import synthesize

    summary = synthesize(name, out, seed=seed, identities_train=identities_train, identities_test=identities_test,
                         images_per_identity=images_per_identity, multi_source_identities=multi_source_identities,
                         multi_source_images=multi_source_images)
    images = summary["images"]
    query = f" + {images['query']} query" if "query" in images else ""
    typer.echo(f"{out}: {images['train']} train + {images['test']} test{query} images, "
               f"{summary['bytes'] / 1e6:.1f} MB, {summary['seconds']:.1f} s")


@data_app.command("prepare")
def prepare_cmd(
    dataset: Optional[Path] = typer.Option(None, "--dataset", help="dataset folder (annotations and images found by layout)"),
    annotations_train: Optional[Path] = typer.Option(None, "--annotations-train", help="train annotation CSV"),
    annotations_test: Optional[Path] = typer.Option(None, "--annotations-test", help="test annotation CSV"),
    out: Path = typer.Option(..., "--out", help="folder for pairs-train.csv, pairs-test.csv and the manifest"),
    official_pairs_train: Optional[Path] = typer.Option(None, "--official-pairs-train", help="use and validate this train pairs CSV"),
    official_pairs_test: Optional[Path] = typer.Option(None, "--official-pairs-test", help="use and validate this test pairs CSV"),
    official: bool = typer.Option(True, "--official/--no-official", help="use official pair files found in the dataset folder"),
    kind: Optional[str] = typer.Option(None, help="market or deepfashion (default: from the folder or file names)"),
    image_size: Optional[str] = typer.Option(None, help="HxW frame of the keypoints, e.g. 256x256 for pose-gan fashion CSVs"),
    images_for_test: int = typer.Option(12000, help="test pairs sampled from the candidates (pose-gan --images_for_test)"),
    seed: int = typer.Option(0, help="random_state of the test sample (0 reproduces the official file)"),
    check_images: bool = typer.Option(True, "--check-images/--no-check-images", help="decode every used image (with --dataset)"),
    multi_source: Optional[list[int]] = typer.Option(None, "--multi-source", help="also write multi-source tuples with K sources (repeatable)"),
    min_instances: Optional[int] = typer.Option(None, help="multi-source: images an identity needs (default 13 market, 4 deepfashion)"),
    val_fraction: float = typer.Option(0.1, help="multi-source: share of train identities held out for validation"),
    max_test_tuples: Optional[int] = typer.Option(None, help="multi-source: sample this many test tuples (default: all)"),
) -> None:
    """Build the train/test pair splits with the original rule (or check official ones) and a manifest."""
    from bench.data.splits import MultiSourceConfig, parse_image_size, prepare

    config = None
    if multi_source:
        config = MultiSourceConfig(tuple(multi_source), min_instances, val_fraction, max_test_tuples, seed)
    manifest = prepare(
        dataset=dataset, annotations_train=annotations_train, annotations_test=annotations_test, out=out,
        official_pairs_train=official_pairs_train, official_pairs_test=official_pairs_test, use_official=official,
        kind=kind, image_size=parse_image_size(image_size) if image_size else None,
        images_for_test=images_for_test, seed=seed, check_image_files=check_images, multi_source=config,
    )
    for split, info in manifest["splits"].items():
        typer.echo(f"{split}: {info['pairs']} pairs ({info['pairs_source']}), {info['identities']} identities, "
                   f"{info['kept']}/{info['images']} images kept")
    for split, info in (manifest["multi_source"] or {}).get("splits", {}).items():
        typer.echo(f"multi-source {split}: {info['tuples']} tuples, {info['identities']} identities")
    typer.echo(f"wrote {out / 'manifest.json'}")


@data_app.command("show")
def show_cmd(
    dataset: Path = typer.Argument(..., help="dataset folder"),
    out: Path = typer.Option(Path("contact-sheet.png"), "--out", help="PNG to write"),
    split: str = typer.Option("test", help="train or test"),
    n: int = typer.Option(8, help="number of pairs"),
    seed: int = typer.Option(0),
    pairs_dir: Optional[Path] = typer.Option(None, "--pairs-dir", help="folder of prepared pairs-{split}.csv (default: the dataset folder)"),
) -> None:
    """Write a PNG contact sheet of pairs with skeletons and masks overlaid."""
    from bench.data.show import contact_sheet

    shown = contact_sheet(dataset, out, split=split, n=n, seed=seed, pairs_dir=pairs_dir)
    typer.echo(f"wrote {out} ({len(shown)} pairs of {split})")


def register(app: typer.Typer) -> None:
    app.add_typer(data_app, name="data")
