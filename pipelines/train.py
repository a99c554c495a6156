"""DVC stage ``train@<model>-<dataset>``: train one cell with its resolved config.

A reference row (``source-copy``) has nothing to train: its run folder gets a
``meta.json`` saying so and an empty log, so the matrix stays uniform. The
generator and discriminator loss totals go to ``logs/<model>/<dataset>.csv``,
the stage's DVC plot (``dvc plots show``).

    python -m pipelines.train MODEL DATASET
"""
from __future__ import annotations

import shutil
import sys

import yaml

from bench.cli.train import train
from bench.figures import LOG, loss_totals, read_train_log
from bench.errors import BenchError
from bench.io import atomic_write_json, atomic_write_text, provenance
from bench.train.config import TrainConfig
from pipelines.common import config_file, dataset_root, loss_file, pairs_dir, run_dir


def main(model: str, dataset: str) -> None:
    text = config_file(model, dataset).read_text()
    spec = yaml.safe_load(text)
    out = run_dir(model, dataset)
    # The run folder persists between `dvc repro`s so a killed run resumes; a run
    # made under another config is stale and starts over.
    if (out / "config.yaml").exists() and (out / "config.yaml").read_text() != text:
        shutil.rmtree(out)
    atomic_write_text(out / "config.yaml", text)
    if spec.get("trainable") is False:
        atomic_write_json(out / "meta.json", {"model": model, "trained": False,
                                              "reason": "reference row: nothing to train", "provenance": provenance()})
        atomic_write_text(out / "train_log.csv", "step\n")
        atomic_write_text(loss_file(model, dataset), "step,G,D\n")
        return
    config = TrainConfig.from_dict(spec["config"], where=str(config_file(model, dataset)))
    train(model, dataset_root(dataset), out, profile=spec["profile"], pairs_dir=pairs_dir(dataset),
          resume=True, config=config, progress=sys.stderr.isatty())
    atomic_write_text(loss_file(model, dataset), loss_totals(read_train_log(out / LOG)))


if __name__ == "__main__":
    try:
        main(*sys.argv[1:3])
    except BenchError as err:
        raise SystemExit(f"error: {err}") from None
