"""Training and generation of one (model, dataset) cell: what `bench train`, `bench generate`,
the DVC stages and the studies call (the CLI in bench/cli/train.py only parses options).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from bench.errors import BenchError, DataError


def train(
    model_name: str,
    dataset: Path,
    out: Path,
    profile: str = "cpu",
    params: Path = Path("params.yaml"),
    pairs_dir: Optional[Path] = None,
    resume: bool = False,
    iterations: Optional[int] = None,
    overrides: Optional[dict[str, Any]] = None,
    device: Optional[str] = None,
    weights_dir: Optional[Path] = None,
    progress: bool = True,
    config: Any = None,
    sources: Optional[int] = None,
) -> dict[str, float]:
    """Train ``model_name`` on the train split of ``dataset`` into the run folder ``out``.

    ``config`` (a resolved ``TrainConfig``) replaces the profile lookup; the DVC
    pipeline passes the per-cell config that ``pipelines/configure.py`` wrote.
    """
    from bench.data.layout import DatasetLayout
    from bench.data.multisource import check_model_sources
    from bench.models import list_models
    from bench.registry import MODELS
    from bench.train.config import load_config
    from bench.train.trainer import check_run_folder

    if not MODELS.get(model_name).meta.trainable:  # an unknown name: a clear error listing valid ones
        raise BenchError(f"{model_name} is a reference row and is not trained: use `bench generate {model_name}`")
    check_run_folder(out)  # a dataset or the user's folder given as --out: refused before any work
    layout = DatasetLayout.open(dataset, pairs_dir)
    if config is None:
        options = {"iterations": iterations, "device": device, "sources": sources,
                   "model.weights_dir": str(weights_dir) if weights_dir is not None else None}
        overrides = {**(overrides or {}), **{k: v for k, v in options.items() if v is not None}}
        config = load_config(model_name, layout.kind.name, profile, params, overrides, models=list_models())
    if config.sources:
        check_model_sources(model_name, config.sources)  # before any process group or weights
    if config.threads:
        import torch

        torch.set_num_threads(config.threads)
    meta = {"profile": profile, "params": str(params), "dataset_root": str(layout.root)}
    return _fit(model_name, layout, config, out, meta, resume, progress)


def _fit(model_name: str, layout: Any, config: Any, out: Path, meta: dict[str, Any], resume: bool,
         progress: bool) -> dict[str, float]:
    """Build the model and its training set inside the process group, then run the trainer."""
    from bench.data.multisource import training_set
    from bench.models import create_model
    from bench.train.checkpoint import seed_everything
    from bench.train.distributed import init_distributed, shutdown
    from bench.train.trainer import Trainer

    info = init_distributed(config.device)
    try:
        seed_everything(config.seed)  # same initial weights on every rank (DDP also broadcasts rank 0's)
        model = create_model(model_name, layout.kind.name, **config.model)
        train_set, listing = training_set(layout, model_name, config.sources, flip=config.flip)
        if len(train_set) == 0:
            raise DataError(listing, "holds no training pairs (header only?): nothing to train on")
        spec = {"model": model_name, "dataset": layout.kind.name, "model_options": config.model}
        meta = {**meta, "pairs": str(listing), "train_pairs": len(train_set), "sources": config.sources}
        trainer = Trainer(model, train_set, config, run_dir=out, spec=spec, dist=info, progress=progress, extra_meta=meta,
                          validation=_validation(model_name, layout, config))
        return trainer.fit(resume=resume)
    finally:
        shutdown()


def _validation(model_name: str, layout: Any, config: Any) -> Any:
    """The validation loop of ``--val-every`` (None when off)."""
    if not config.val_every:
        return None
    from bench.data.multisource import tuple_dataset
    from bench.train.validation import Validation

    n = max(config.sources, 1)  # a pair-trained model is validated on the first source of each tuple
    val_set, listing = tuple_dataset(layout, "validation", n, model_name)
    return Validation(val_set, layout, config.val_metric, config.val_protocol, config.val_items,
                      held_out=bool(config.sources), listing=str(listing))


def generate(
    model_name: str,
    dataset: Path,
    out: Path,
    checkpoint: Optional[Path] = None,
    pairs_dir: Optional[Path] = None,
    batch_size: int = 8,
    device: str = "auto",
    num_workers: int = 0,
    progress: bool = True,
    conversion: str = "round",
    sources: int = 0,
    stage: int = 0,
) -> Path:
    """Write ``{from}___{to}.png`` for every test pair of ``dataset`` into the folder ``out``.

    With ``sources`` n >= 1: one image per n-source test tuple, named by its pair key
    (``bench.data.multisource``), in tuple order. With ``stage`` s >= 1 a staged model
    (PG2, VDG, ...) writes its stage-s image instead of its final one.
    """
    from bench.data.dataset import PairDataset
    from bench.data.layout import DatasetLayout
    from bench.data.multisource import NAMING_RULE, check_model_sources, pair_keys, tuple_dataset
    from bench.data.splits import read_tuples
    from bench.models import create_model
    from bench.train.distributed import resolve_device
    from bench.train.generate import generate as run_generation
    from bench.train.generate import image_name, load_trained, pin_stage

    layout = DatasetLayout.open(dataset, pairs_dir)
    kind = layout.kind.name
    if sources:
        check_model_sources(model_name, sources)
    if checkpoint is not None:
        model, info = load_trained(checkpoint, kind)
        if info["model"] != model_name:
            raise BenchError(f"{checkpoint} holds a {info['model']!r} model, not {model_name!r}")
    else:
        model = create_model(model_name, kind)
        if model.trainable:
            raise BenchError(f"{model_name} is trainable: pass --checkpoint RUN_DIR (from `bench train`)")
        info = {"model": model_name, "dataset": kind, "checkpoint": None}
    if stage:
        pin_stage(model, stage)
    names, naming = None, "{from}___{to}.png, in pair order"
    if sources:
        test_set, listing = tuple_dataset(layout, "test", sources, model_name)
        names = [image_name(a, b) for a, b in pair_keys(read_tuples(listing, sources), listing)]
        naming = NAMING_RULE
    else:
        test_set, listing = PairDataset(layout, "test"), layout.pairs("test")
    info = {**info, "dataset_root": str(layout.root), "pairs": str(listing), "split": "test", "sources": sources,
            "stage": stage,
            "tuples": str(listing) if sources else None}
    return run_generation(model, test_set, out, batch_size=batch_size, device=resolve_device(device),
                          num_workers=num_workers, progress=progress, conversion=conversion, info=info,
                          names=names, naming=naming)
