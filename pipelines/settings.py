"""DVC stage ``settings@<dataset>``: results of trained cells in settings other than the default.

``settings.<dataset>`` in params.yaml lists groups of ``{protocol, models}``, each mapping
models to setting labels (bench/setting.py):
``n=K`` generates one image per K-source test tuple (Horiuchi et al. Tables 1-2; the
cell's model, trained with its own source count, sees the first K sources) and
``stage-1`` a staged model's Stage I image (Lakhal et al. Table 3). Each is generated
from the cell's run and scored like the default:

    generated/settings/<dataset>/<model>/<slug>/            (bench generate --sources/--stage)
    results/metrics/settings/<dataset>/<model>/<slug>.json  (bench evaluate --sources/--stage)

One process per dataset, so the few seconds of start-up are paid once, not per setting.

    python -m pipelines.settings DATASET [ESTIMATOR]
"""
from __future__ import annotations

import sys
from pathlib import Path

import torch
import yaml

from bench.train.run import generate
from bench.errors import BenchError, DataError
from bench.evaluate import EvalConfig, evaluate
from bench.metrics.protocol import get_protocol
from bench.registry import MODELS
from bench.setting import Setting
from pipelines.common import PARAMS, config_file, dataset_models, dataset_root, pairs_dir, read_params, run_dir

SETTINGS = "settings"


def generated_dir(dataset: str, model: str, setting: Setting) -> Path:
    return Path("generated") / SETTINGS / dataset / model / setting.slug()


def record_file(dataset: str, model: str, setting: Setting) -> Path:
    return Path("results/metrics") / SETTINGS / dataset / model / f"{setting.slug()}.json"


def planned(params: dict, dataset: str) -> list[tuple[str, Setting, str]]:
    """The (model, setting, protocol) cells of ``dataset``, checked against the models the pipeline trains."""
    groups = (params.get(SETTINGS) or {}).get(dataset) or []
    where = f"{SETTINGS}.{dataset}"
    if not isinstance(groups, list):
        raise DataError(PARAMS, f"{where} must be a list of {{protocol, models: {{model: [settings]}}}} groups")
    cells, seen = [], set()
    for i, group in enumerate(groups):
        if not isinstance(group, dict) or set(group) != {"protocol", "models"} or not isinstance(group["models"], dict):
            raise DataError(PARAMS, f"{where}[{i}] must have exactly the keys protocol and models (model: [settings])")
        get_protocol(group["protocol"])
        for model, labels in group["models"].items():
            if model not in dataset_models(params, dataset):
                raise DataError(PARAMS, f"{where}[{i}].{model}: not trained on {dataset} (`models` x `datasets` "
                                        "or a group's), so it has no run")
            if not isinstance(labels, list) or not labels:
                raise DataError(PARAMS, f"{where}[{i}].{model} must be a list of settings such as [n=1, n=3]")
            for label in labels:
                setting = Setting.parse(str(label))
                if setting.portion is not None or not (setting.sources or setting.stage):
                    raise DataError(PARAMS, f"{where}[{i}].{model}: {label!r} is not a setting this stage produces "
                                            "(n=K or stage-S)")
                if (model, setting) in seen:  # one record per (model, setting): the tables key on it
                    raise DataError(PARAMS, f"{where}: {model} {setting.label()} is listed twice")
                seen.add((model, setting))
                cells.append((model, setting, group["protocol"]))
    return cells


def main(dataset: str, estimator: str | None = None) -> None:
    """``estimator`` defaults to the dataset's trained heatmap estimator (runs/pose/<dataset>.pt), as `evaluate`."""
    params = read_params()
    estimator = estimator or f"heatmap:{Path('runs/pose') / f'{dataset}.pt'}"
    for out in (Path("generated") / SETTINGS / dataset, Path("results/metrics") / SETTINGS / dataset):
        out.mkdir(parents=True, exist_ok=True)  # the stage's outputs, even for a dataset with no settings
    for model, setting, protocol in planned(params, dataset):
        threads = (yaml.safe_load(config_file(model, dataset).read_text()).get("config") or {}).get("threads", 0)
        if threads:
            torch.set_num_threads(threads)
        trained = MODELS.get(model).meta.trainable
        images = generated_dir(dataset, model, setting)
        print(f"{dataset} {model} {setting.label()} ({protocol})", file=sys.stderr)
        generate(model, dataset_root(dataset), images, checkpoint=run_dir(model, dataset) if trained else None,
                 pairs_dir=pairs_dir(dataset), progress=False, sources=setting.sources, stage=setting.stage)
        evaluate(EvalConfig(generated_dir=images, dataset=dataset_root(dataset), out=record_file(dataset, model, setting),
                            pairs_dir=pairs_dir(dataset), protocol=protocol,
                            estimator=estimator, model=model, progress=False,
                            sources=setting.sources, stage=setting.stage))


if __name__ == "__main__":
    try:
        main(*sys.argv[1:3])  # DATASET [ESTIMATOR]: `none` on the frame datasets
    except BenchError as err:
        raise SystemExit(f"error: {err}") from None
