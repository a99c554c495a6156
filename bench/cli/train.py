"""`bench train` and `bench generate`.

    bench train patn --dataset data/synth-market --profile cpu --out runs/patn-market
    torchrun --standalone --nproc_per_node=4 --no-python bench train patn --dataset ... --profile paper --out ...
    bench generate patn --dataset data/synth-market --checkpoint runs/patn-market --out generated/patn-market
    bench generate source-copy --dataset data/synth-market --out generated/source-copy-market

Multi-source (``bench.data.multisource``): ``--sources K`` trains on the K-source
tuples of the prepared folder; ``bench generate --sources n`` writes one image per
n-source test tuple.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Optional

import typer

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
    from bench.data.dataset import PairDataset
    from bench.data.layout import DatasetLayout
    from bench.data.multisource import check_model_sources, tuple_dataset
    from bench.models import create_model, list_models
    from bench.registry import MODELS
    from bench.train.checkpoint import seed_everything
    from bench.train.config import load_config
    from bench.train.distributed import init_distributed, shutdown
    from bench.train.trainer import Trainer

    entry = MODELS.get(model_name)  # unknown name: a clear error listing valid ones
    if not entry.meta.trainable:
        raise BenchError(f"{model_name} is a reference row and is not trained: use `bench generate {model_name}`")
    from bench.train.trainer import check_run_folder

    check_run_folder(out)  # a dataset or the user's folder given as --out: refused before any work
    layout = DatasetLayout.open(dataset, pairs_dir)
    overrides = dict(overrides or {})
    if iterations is not None:
        overrides["iterations"] = iterations
    if device is not None:
        overrides["device"] = device
    if weights_dir is not None:
        overrides["model.weights_dir"] = str(weights_dir)
    if sources is not None:
        overrides["sources"] = sources
    if config is None:
        config = load_config(model_name, layout.kind.name, profile, params, overrides, models=list_models())

    if config.sources:
        check_model_sources(model_name, config.sources)  # before any process group or weights
    if config.threads:
        import torch

        torch.set_num_threads(config.threads)
    info = init_distributed(config.device)
    try:
        seed_everything(config.seed)  # same initial weights on every rank (DDP also broadcasts rank 0's)
        model = create_model(model_name, layout.kind.name, **config.model)
        if config.sources:
            train_set, listing = tuple_dataset(layout, "train", config.sources, model_name, flip=config.flip)
        else:
            train_set, listing = PairDataset(layout, "train", flip=config.flip), layout.pairs("train")
        if len(train_set) == 0:
            raise DataError(listing, "holds no training pairs (header only?): nothing to train on")
        spec = {"model": model_name, "dataset": layout.kind.name, "model_options": config.model}
        extra = {"profile": profile, "params": str(params), "dataset_root": str(layout.root),
                 "pairs": str(listing), "train_pairs": len(train_set), "sources": config.sources}
        validation = None
        if config.val_every:
            from bench.train.validation import Validation

            n = max(config.sources, 1)  # a pair-trained model is validated on the first source of each tuple
            val_set, val_listing = tuple_dataset(layout, "validation", n, model_name)
            validation = Validation(val_set, layout, config.val_metric, config.val_protocol, config.val_items,
                                    held_out=bool(config.sources), listing=str(val_listing))
        trainer = Trainer(model, train_set, config, run_dir=out, spec=spec, dist=info, progress=progress, extra_meta=extra,
                          validation=validation)
        return trainer.fit(resume=resume)
    finally:
        shutdown()


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


def register(app: typer.Typer) -> None:
    @app.command("train")
    def train_cmd(
        model: str = typer.Argument(..., help="registered model name (bench models list)"),
        dataset: Path = typer.Option(..., "--dataset", help="dataset root in the release layout"),
        out: Path = typer.Option(..., "--out", help="run folder: checkpoint.pt, model.pt, train_log.csv, meta.json"),
        profile: str = typer.Option("cpu", "--profile", help="params.yaml profile: cpu (small, minutes) or paper"),
        params: Path = typer.Option(Path("params.yaml"), "--params", help="parameter file holding the profiles"),
        pairs_dir: Optional[Path] = typer.Option(None, "--pairs-dir", help="folder with prepared pairs-train.csv"),
        resume: bool = typer.Option(False, "--resume", help="continue from OUT/checkpoint.pt if present"),
        iterations: Optional[int] = typer.Option(None, "--iterations", help="override the profile's iteration count"),
        set_: Optional[list[str]] = typer.Option(None, "--set", help="override a config key: key=value or model.key=value"),
        device: Optional[str] = typer.Option(None, "--device", help="auto, cpu, cuda or cuda:N (default: the profile's)"),
        weights_dir: Optional[Path] = typer.Option(None, "--weights-dir", help="folder with vgg19-dcbb9e9d.pth"),
        sources: Optional[int] = typer.Option(None, "--sources", help="K >= 1: train on K-source tuples (msource-train-k*.csv); 0: pairs"),
        val_every: Optional[int] = typer.Option(None, "--val-every", help="score the validation split every N iterations; keep the best as best.pt (0: off)"),
        val_metric: Optional[str] = typer.Option(None, "--val-metric", help="per-pair metric that picks best.pt (default ssim, as Horiuchi et al.)"),
        amp: Optional[str] = typer.Option(None, "--amp", help="mixed precision: off, bf16, or fp16 (with loss scaling)"),
        channels_last: Optional[bool] = typer.Option(None, "--channels-last/--no-channels-last", help="NHWC weights and batches"),
        cudnn_benchmark: Optional[bool] = typer.Option(None, "--cudnn-benchmark/--no-cudnn-benchmark", help="cuDNN algorithm autotuning (CUDA)"),
        num_workers: Optional[int] = typer.Option(None, "--num-workers", help="DataLoader worker processes (pinned memory on CUDA)"),
        quiet: bool = typer.Option(False, "--quiet", help="no progress bar"),
    ) -> None:
        """Train a generator (CPU, one GPU, or N GPUs under torchrun)."""
        from bench.train.config import parse_overrides

        overrides = parse_overrides(set_ or [])
        for key, value in (("val_every", val_every), ("val_metric", val_metric), ("amp", amp),
                           ("channels_last", channels_last), ("cudnn_benchmark", cudnn_benchmark),
                           ("num_workers", num_workers)):
            if value is not None:
                overrides[key] = value
        train(model, dataset, out, profile=profile, params=params, pairs_dir=pairs_dir, resume=resume,
              iterations=iterations, overrides=overrides, device=device, weights_dir=weights_dir,
              progress=not quiet and sys.stderr.isatty(), sources=sources)

    @app.command("steptime")
    def steptime_cmd(
        models: Optional[list[str]] = typer.Argument(None, help="models to time (default: every trainable one)"),
        dataset: Path = typer.Option(..., "--dataset", help="dataset root (its training split feeds the steps)"),
        pairs_dir: Optional[Path] = typer.Option(None, "--pairs-dir", help="folder with prepared pairs-train.csv"),
        profile: str = typer.Option("cpu", "--profile"),
        params: Path = typer.Option(Path("params.yaml"), "--params"),
        steps: int = typer.Option(5, "--steps", help="timed steps per model (interleaved rounds)"),
        warmup: int = typer.Option(2, "--warmup", help="untimed steps per model first"),
        threads: int = typer.Option(0, "--threads", help="torch CPU threads (0: torch's default)"),
        set_: Optional[list[str]] = typer.Option(None, "--set", help="override a config key for every model"),
    ) -> None:
        """Seconds per training iteration of each model (min and median over interleaved rounds)."""
        import torch

        from bench.models import list_models
        from bench.train.config import parse_overrides
        from bench.train.steptime import StepTimeConfig, measure

        if threads:
            torch.set_num_threads(threads)
        cfg = StepTimeConfig(models=tuple(models or list_models()), dataset=dataset, pairs_dir=pairs_dir, profile=profile,
                             params=params, steps=steps, warmup=warmup,
                             overrides=tuple(parse_overrides(set_ or []).items()))
        typer.echo("| model | batch | min s/it | median s/it |\n|---|---:|---:|---:|")
        for row in measure(cfg):
            typer.echo(f"| {row['model']} | {row['batch_size']} | {row['min_s']:.4f} | {row['median_s']:.4f} |")

    @app.command("generate")
    def generate_cmd(
        model: str = typer.Argument(..., help="registered model name"),
        dataset: Path = typer.Option(..., "--dataset", help="dataset root in the release layout"),
        out: Path = typer.Option(..., "--out", help="output folder (written atomically)"),
        checkpoint: Optional[Path] = typer.Option(None, "--checkpoint", help="run folder or checkpoint file (not for reference rows)"),
        pairs_dir: Optional[Path] = typer.Option(None, "--pairs-dir", help="folder with prepared pairs-test.csv"),
        batch_size: int = typer.Option(8, "--batch-size"),
        device: str = typer.Option("auto", "--device"),
        num_workers: int = typer.Option(0, "--num-workers"),
        conversion: str = typer.Option("round", "--uint8", help="float->uint8: round, or truncate (PATN's tensor2im)"),
        sources: int = typer.Option(0, "--sources", help="n >= 1: one image per n-source test tuple (msource-test-k*.csv)"),
        stage: int = typer.Option(0, "--stage", help="s >= 1: a staged model's stage-s image (e.g. VDG's Stage I) instead of its final one"),
        quiet: bool = typer.Option(False, "--quiet", help="no progress bar"),
    ) -> None:
        """Generate the test-split images as {from}___{to}.png, in pair order, plus generation.json."""
        path = generate(model, dataset, out, checkpoint=checkpoint, pairs_dir=pairs_dir, batch_size=batch_size,
                        device=device, num_workers=num_workers, progress=not quiet and sys.stderr.isatty(),
                        conversion=conversion, sources=sources, stage=stage)
        typer.echo(str(path))
