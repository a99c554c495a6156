"""The test-split images of one cell (the first half of ``evaluate@<model>-<dataset>``,
pipelines/evaluate.py), with the cell's training thread count.

    python -m pipelines.generate MODEL DATASET
"""
from __future__ import annotations

import sys

import torch
import yaml

from bench.train.run import generate
from bench.errors import BenchError
from bench.registry import MODELS
from pipelines.common import config_file, dataset_root, generated_dir, pairs_dir, run_dir


def main(model: str, dataset: str) -> None:
    trained = MODELS.get(model).meta.trainable
    threads = (yaml.safe_load(config_file(model, dataset).read_text()).get("config") or {}).get("threads", 0)
    if threads:  # the cell's training thread count: tiny models run fastest single-threaded
        torch.set_num_threads(threads)
    generate(model, dataset_root(dataset), generated_dir(model, dataset),
             checkpoint=run_dir(model, dataset) if trained else None,
             pairs_dir=pairs_dir(dataset), progress=sys.stderr.isatty())


if __name__ == "__main__":
    try:
        main(*sys.argv[1:3])
    except BenchError as err:
        raise SystemExit(f"error: {err}") from None
