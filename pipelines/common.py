"""Paths and parameters shared by the DVC stage entry points.

Every dataset lives at ``data/<name>`` (synthetic ones are written by the
``synth`` stage; a real one is a folder or link put there), its prepared pairs
at ``data/prepared/<name>``; a model's run at ``runs/<model>/<dataset>`` (its loss
curve at ``logs/<model>/<dataset>.csv``), its
test images at ``generated/<model>/<dataset>``, its scores at
``results/metrics/<model>/<dataset>.json``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.train.config import read_params as read_train_params

PARAMS = Path("params.yaml")


def read_params(path: Path = PARAMS) -> dict[str, Any]:
    return read_train_params(path)  # one reader of params.yaml (bench.train.config)


GROUPS = ("market", "fashion", "frame")  # params.yaml: the matrices beside `models` x `datasets` (dvc.yaml)


def cells(params: dict[str, Any], frame: bool = True) -> list[tuple[str, str]]:
    """Every (model, dataset) the pipeline trains: ``models`` x ``datasets``, then each group's
    ``models`` x ``datasets`` (:data:`GROUPS`; ``frame``: datasets in another paper's frame)."""
    out = [(m, d) for m in params["models"] for d in params["datasets"]]
    for group in (g for g in GROUPS if frame or g != "frame"):
        block = params.get(group) or {}
        out += [(m, d) for m in block.get("models") or [] for d in block.get("datasets") or []]
    return out


def dataset_models(params: dict[str, Any], dataset: str) -> list[str]:
    """The models trained on ``dataset`` (:func:`cells`)."""
    return [m for m, d in cells(params) if d == dataset]


def dataset_root(name: str) -> Path:
    return Path("data") / name


def pairs_dir(name: str) -> Path:
    return Path("data") / "prepared" / name


def run_dir(model: str, dataset: str) -> Path:
    return Path("runs") / model / dataset


def generated_dir(model: str, dataset: str) -> Path:
    return Path("generated") / model / dataset


def record_file(model: str, dataset: str) -> Path:
    """The cell's evaluation record (beside it: ``.scores.json``, ``.per-pair.csv``)."""
    return Path("results") / "metrics" / model / f"{dataset}.json"


def work_dir(model: str, dataset: str) -> Path:
    """Where a cell trains and keeps its resumable checkpoint (outside DVC's outputs)."""
    return Path("checkpoints") / model / dataset


def loss_file(model: str, dataset: str) -> Path:
    return Path("logs") / model / f"{dataset}.csv"


def config_file(model: str, dataset: str) -> Path:
    return Path("configs") / model / f"{dataset}.yaml"
