"""DVC stage ``train@<model>-<dataset>``: train one cell with its resolved config.

Training runs in ``checkpoints/<model>/<dataset>/``, outside DVC's outputs, so a
killed ``dvc repro`` resumes from its last ``checkpoint.pt``. The finished run
(``model.pt``, ``train_log.csv``, ``meta.json``, ``config.yaml``) is then copied
to ``runs/<model>/<dataset>/``, the stage's output. That output is an ordinary
cached one (not ``persist``), so DVC's run-cache can restore an unchanged cell,
e.g. in a queued experiment's fresh workspace, instead of training it again.

A reference row (``source-copy``) has nothing to train: its run folder gets a
``meta.json`` saying so and an empty log, so the matrix stays uniform. The
generator and discriminator loss totals go to ``logs/<model>/<dataset>.csv``,
the stage's DVC plot (``dvc plots show``).

    python -m pipelines.train MODEL DATASET
"""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

import yaml

from bench.train.run import train
from bench.errors import BenchError
from bench.figures import loss_totals
from bench.io import atomic_path, atomic_write_json, atomic_write_text, provenance
from bench.train.config import TrainConfig
from bench.train.log import read_train_log
from bench.train.trainer import FINAL, LOG, META
from bench.train.validation import BEST
from pipelines.common import config_file, dataset_root, loss_file, pairs_dir, run_dir, work_dir

EXPORTED = (FINAL, LOG, META, "config.yaml")  # what generate, report and a reader need; not the optimiser state


def main(model: str, dataset: str) -> None:
    text = config_file(model, dataset).read_text()
    spec = yaml.safe_load(text)
    if spec.get("trainable") is False:
        reference_row(model, dataset)
        return
    work = work_dir(model, dataset)
    if (work / "config.yaml").exists() and (work / "config.yaml").read_text() != text:
        shutil.rmtree(work)  # a run made under another config is stale: start over
    atomic_write_text(work / "config.yaml", text)
    config = TrainConfig.from_dict(spec["config"], where=str(config_file(model, dataset)))
    train(model, dataset_root(dataset), work, profile=spec["profile"], pairs_dir=pairs_dir(dataset),
          resume=True, config=config, progress=sys.stderr.isatty())
    export(work, run_dir(model, dataset))
    atomic_write_text(loss_file(model, dataset), loss_totals(read_train_log(work / LOG)))


def export(work: Path, out: Path) -> None:
    with atomic_path(out, kind="a training run") as tmp:
        tmp.mkdir()
        for name in EXPORTED:
            shutil.copy2(work / name, tmp / name)
        if (work / BEST).exists():  # the checkpoint validation selected: what generate uses
            shutil.copy2(work / BEST, tmp / BEST)


def reference_row(model: str, dataset: str) -> None:
    with atomic_path(run_dir(model, dataset), kind="a training run") as tmp:
        tmp.mkdir()
        atomic_write_json(tmp / META, {"model": model, "trained": False,
                                       "reason": "reference row: nothing to train", "provenance": provenance()})
        atomic_write_text(tmp / LOG, "step\n")
        shutil.copy2(config_file(model, dataset), tmp / "config.yaml")
    atomic_write_text(loss_file(model, dataset), "step,G,D\n")


if __name__ == "__main__":
    try:
        main(*sys.argv[1:3])
    except BenchError as err:
        raise SystemExit(f"error: {err}") from None
