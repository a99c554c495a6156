"""The study config: which methods on which datasets, from which image folders, with which counts.

A YAML file (see README, "User study")::

    seed: 0
    datasets:
      - name: synth-market            # a label; the dataset kind (market / deepfashion) is read from root
        root: data/synth-market       # real targets and source images: the test split
        pairs_dir: data/prepared/synth-market   # optional: prepared pairs-test.csv
        methods:                      # registered model name -> its generated test images
          partflow: generated/partflow/synth-market
          gfla: generated/gfla/synth-market

Counts default to the published protocol (Tang et al. "User Study"): 55 real + 55 generated per
method, the first 10 a warm-up, 1 s per image, 30 preference groups per dataset. Relative paths
are relative to the working directory, as in dvc.yaml.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from bench.errors import BenchError, DataError

# The published protocol (Tang et al. 2021, "User Study"; Ma et al. 2017).
PAPER_COUNTS = {"real": 55, "generated": 55, "warmup": 10, "show_ms": 1000, "groups": 30}


@dataclass(frozen=True)
class StudyDataset:
    name: str
    root: Path
    methods: dict[str, Path]
    pairs_dir: Path | None = None


@dataclass(frozen=True)
class StudyConfig:
    datasets: tuple[StudyDataset, ...]
    seed: int = 0
    real: int = PAPER_COUNTS["real"]  # real images per method block
    generated: int = PAPER_COUNTS["generated"]  # generated images per method block
    warmup: int = PAPER_COUNTS["warmup"]  # first trials of each block, not scored
    show_ms: int = PAPER_COUNTS["show_ms"]  # how long a realness image stays visible
    groups: int = PAPER_COUNTS["groups"]  # preference groups per dataset

    def __post_init__(self) -> None:
        if not self.datasets:
            raise BenchError("study config: 'datasets' is empty")
        names = [d.name for d in self.datasets]
        if len(set(names)) != len(names):
            raise BenchError(f"study config: dataset names repeat: {names}")
        for key in ("real", "generated", "groups", "show_ms"):
            if getattr(self, key) < 1:
                raise BenchError(f"study config: {key!r} must be at least 1, got {getattr(self, key)}")
        if not 0 <= self.warmup < self.real + self.generated:
            raise BenchError(f"study config: 'warmup' must be in [0, real + generated), got {self.warmup}")
        for d in self.datasets:
            _check_methods(d)

    @property
    def is_paper_protocol(self) -> bool:
        return all(getattr(self, k) == v for k, v in PAPER_COUNTS.items())

    def canonical(self) -> dict[str, Any]:
        """JSON-ready form: what the study hash is computed from (with the image pools)."""
        out = {k: getattr(self, k) for k in ("seed", *PAPER_COUNTS)}
        out["datasets"] = [{"name": d.name, "root": str(d.root), "pairs_dir": str(d.pairs_dir) if d.pairs_dir else None,
                            "methods": {m: str(p) for m, p in d.methods.items()}} for d in self.datasets]
        return out

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.canonical(), sort_keys=True).encode()).hexdigest()


def _check_methods(dataset: StudyDataset) -> None:
    """Every method is a registered generator (the published rows are matched by that name)."""
    from bench.registry import MODELS

    if not dataset.methods:
        raise BenchError(f"study config: dataset {dataset.name!r} has no methods")
    for method in dataset.methods:
        if method not in MODELS:
            raise BenchError(f"study config: unknown method {method!r} in dataset {dataset.name!r}; "
                             f"registered: {', '.join(MODELS.names())}")


_TOP = {f.name for f in fields(StudyConfig)}
_DATASET = {f.name for f in fields(StudyDataset)}


def config_from_dict(data: Any, where: Path | str = "study config") -> StudyConfig:
    if not isinstance(data, dict):
        raise DataError(where, "a study config is a mapping with a 'datasets' list")
    unknown = sorted(set(data) - _TOP)
    if unknown:
        raise DataError(where, f"unknown key {unknown[0]!r}; valid: {', '.join(sorted(_TOP))}")
    if not isinstance(data.get("datasets"), list):
        raise DataError(where, "'datasets' must be a list of {name, root, methods}")
    datasets = []
    for i, d in enumerate(data["datasets"]):
        if not isinstance(d, dict):
            raise DataError(where, f"datasets[{i}] is not a mapping")
        bad = sorted(set(d) - _DATASET)
        if bad:
            raise DataError(where, f"datasets[{i}]: unknown key {bad[0]!r}; valid: {', '.join(sorted(_DATASET))}")
        for key in ("name", "root", "methods"):
            if key not in d:
                raise DataError(where, f"datasets[{i}] has no {key!r}")
        if not isinstance(d["methods"], dict):
            raise DataError(where, f"datasets[{i}].methods must map method name -> generated-images folder")
        datasets.append(StudyDataset(str(d["name"]), Path(d["root"]), {str(m): Path(p) for m, p in d["methods"].items()},
                                     Path(d["pairs_dir"]) if d.get("pairs_dir") else None))
    counts = {}
    for key in ("seed", *PAPER_COUNTS):
        if key in data:
            if not isinstance(data[key], int) or isinstance(data[key], bool):
                raise DataError(where, f"{key!r} must be an integer, got {data[key]!r}")
            counts[key] = data[key]
    return StudyConfig(tuple(datasets), **counts)


def load_config(path: str | Path) -> StudyConfig:
    from bench.yamlfile import read_yaml

    path = Path(path)
    try:
        return config_from_dict(read_yaml(path), path)
    except DataError:
        raise
    except BenchError as err:
        raise BenchError(f"{path}: {err}") from None

