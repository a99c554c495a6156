"""DVC entry point of reid/dvc.yaml's generate stage: the main pipeline's run of a generator, if it is trained.

    python -m pipelines.reid generate GENERATOR DATASET P
"""
from __future__ import annotations

import sys

from pipelines.common import dataset_root, run_dir


def generate(generator: str, dataset: str, p: str) -> None:
    from bench.models import create_model
    from bench.reid.generate import generate_missing

    trainable = create_model(generator, "market").trainable
    split = f"reid/splits/{dataset}/p{p}"
    generate_missing(generator, dataset_root(dataset), split, f"reid/generated/{generator}/{dataset}/p{p}",
                     checkpoint=run_dir(generator, dataset) if trainable else None, device="cpu")


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    if command != "generate":
        sys.exit(f"error: unknown command {command!r} (generate)")
    generate(*args)
