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
from typing import Optional

import typer

from bench.train.run import generate, train  # noqa: F401  (the library functions the commands call)


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
        typer.echo("| model | batch | min s/it | median s/it | median CPU s/it |\n|---|---:|---:|---:|---:|")
        for row in measure(cfg):
            typer.echo(f"| {row['model']} | {row['batch_size']} | {row['min_s']:.4f} | {row['median_s']:.4f} "
                       f"| {row['cpu_median_s']:.4f} |")

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
