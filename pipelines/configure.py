"""DVC stage ``configure``: resolve the training config of every (model, dataset) cell
(every matrix: :func:`pipelines.common.cells`).

The profiles in params.yaml use glob keys (``pona*``), which DVC cannot track per
model. This stage writes each cell's resolved config to ``configs/<model>/<dataset>.yaml``;
each ``train`` stage depends on its own file only, so editing one model's settings
re-runs that model's stages alone (files whose content did not change keep their hash).

    python -m pipelines.configure
"""
from __future__ import annotations

import shutil

import yaml

from bench.data.layout import DatasetLayout
from bench.errors import BenchError
from bench.io import atomic_write_text
from bench.models import MODELS, list_models
from bench.train.config import check_profiles, resolve
from pipelines.common import PARAMS, cells, config_file, dataset_root, read_params


def main() -> None:
    params = read_params()
    check_profiles(params, PARAMS, list_models())
    profile = params.get("profile", "cpu")
    for model, dataset in cells(params):
        if model not in MODELS:
            MODELS.get(model)  # raises the clear "unknown model" error
        kind = DatasetLayout.open(dataset_root(dataset)).kind.name
        if not MODELS.get(model).meta.trainable:
            text = f"# {model} is a reference row: nothing to train\nmodel: {model}\ntrainable: false\n"
        else:
            config = resolve(params, PARAMS, profile, model, kind)
            text = yaml.safe_dump({"model": model, "dataset": dataset, "kind": kind, "profile": profile,
                                   "config": config.to_dict()}, sort_keys=True)
        atomic_write_text(config_file(model, dataset), text)


if __name__ == "__main__":
    try:
        main()
    except BenchError as err:
        raise SystemExit(f"error: {err}") from None
