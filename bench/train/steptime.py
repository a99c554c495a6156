"""Training step time per model: the trainer's own ``train_step`` on real batches.

Each model is built from its training profile (``params.yaml``), fed batches of the
dataset's training split, run for ``warmup`` steps (allocator, autotuning and lazy
initialisation excluded) and then timed step by step. Models are visited in
interleaved rounds (model A step, model B step, ...), so a load spike on a shared
machine hits every model alike; min and median wall seconds over the timed steps are
reported, and the median CPU seconds of the process (the work done, all threads).
The batches are drawn once per model before timing, so decoding is not in the figure
(the trainer decodes each image once per run, ``bench.data.dataset``).
"""
from __future__ import annotations

import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from bench.data.dataset import collate
from bench.train.distributed import synchronize


@dataclass(frozen=True)
class StepTimeConfig:
    models: tuple[str, ...]
    dataset: Path
    pairs_dir: Path | None = None
    profile: str = "cpu"
    params: Path = Path("params.yaml")
    steps: int = 5
    warmup: int = 2
    overrides: tuple[tuple[str, Any], ...] = ()


def _trainer(name: str, cfg: StepTimeConfig, layout):
    from bench.data.multisource import training_set
    from bench.models import create_model, list_models
    from bench.train.checkpoint import seed_everything
    from bench.train.config import load_config
    from bench.train.trainer import Trainer

    config = load_config(name, layout.kind.name, cfg.profile, cfg.params,
                         {"val_every": 0, **dict(cfg.overrides)}, models=list_models())
    seed_everything(config.seed)
    model = create_model(name, layout.kind.name, **config.model)
    data, _ = training_set(layout, name, config.sources)
    trainer = Trainer(model, data, config, progress=False)
    n = cfg.warmup + cfg.steps
    batches = [collate([data[(i * config.batch_size + j) % len(data)] for j in range(config.batch_size)])
               for i in range(n)]
    return trainer, batches, config


def measure(cfg: StepTimeConfig, progress: bool = True) -> list[dict[str, Any]]:
    """One row per model: batch size, min / median seconds per step, steps timed."""
    from bench.data.layout import DatasetLayout
    from bench.registry import MODELS

    layout = DatasetLayout.open(cfg.dataset, cfg.pairs_dir)
    names = [m for m in cfg.models if MODELS.get(m).meta.trainable]
    built = {}
    for name in names:
        trainer, batches, config = _trainer(name, cfg, layout)
        for batch in batches[:cfg.warmup]:
            trainer.train_step(batch)
        built[name] = (trainer, batches[cfg.warmup:], config)
        if progress:
            print(f"steptime: {name} built and warmed up", file=sys.stderr)
    times: dict[str, list[float]] = {name: [] for name in names}
    cpu: dict[str, list[float]] = {name: [] for name in names}
    for step in range(cfg.steps):  # interleaved rounds
        for name, (trainer, batches, _) in built.items():
            synchronize(trainer.device)
            start, start_cpu = time.perf_counter(), time.process_time()
            trainer.train_step(batches[step])
            synchronize(trainer.device)
            times[name].append(time.perf_counter() - start)
            cpu[name].append(time.process_time() - start_cpu)
        if progress:
            print(f"steptime: round {step + 1}/{cfg.steps}", file=sys.stderr)
    return [{"model": name, "batch_size": built[name][2].batch_size, "sources": built[name][2].sources,
             "min_s": min(t), "median_s": statistics.median(t), "steps": len(t),
             # CPU seconds of this process (all its threads): the work, less sensitive to a shared machine's load
             "cpu_median_s": statistics.median(cpu[name]),
             "threads": torch.get_num_threads()} for name, t in times.items()]
