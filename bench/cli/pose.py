"""`bench pose ...`: the pose estimator used for PCKh."""
from __future__ import annotations

from pathlib import Path

import typer

pose_app = typer.Typer(help="Pose estimator for PCKh (train the heatmap estimator).", no_args_is_help=True)


@pose_app.command("train")
def train_cmd(
    dataset: Path = typer.Option(..., "--dataset", help="dataset folder (train images + annotations)"),
    out: Path = typer.Option(..., "--out", help="checkpoint to write (.pt)"),
    steps: int = typer.Option(800, "--steps", help="optimisation steps (~2 min on 2 idle cores; Market and DeepFashion alike)"),
    batch_size: int = typer.Option(16, "--batch-size"),
    lr: float = typer.Option(2e-3, "--lr"),
    width: int = typer.Option(32, "--width", help="channels of the first stage"),
    downsample: int = typer.Option(0, "--downsample", help="shrink frames by this factor first (0: auto, DeepFashion 2)"),
    augment: bool = typer.Option(True, "--augment/--no-augment", help="colour jitter of training batches (flips always)"),
    seed: int = typer.Option(0, "--seed"),
    threads: int = typer.Option(0, "--threads", help="CPU threads for torch (0: torch's default)"),
) -> None:
    """Train the heatmap pose estimator on the dataset's training annotations."""
    import torch

    from bench.pose_estimator.train import PoseTrainConfig, train_heatmap_estimator

    if threads > 0:  # on a shared machine one thread avoids costly thread contention
        torch.set_num_threads(threads)

    config = PoseTrainConfig(steps=steps, batch_size=batch_size, lr=lr, seed=seed, width=width, downsample=downsample, augment=augment)
    estimator = train_heatmap_estimator(dataset, out, config, progress=True)
    meta = estimator.provenance
    typer.echo(f"{estimator.name}: {meta['training_images']} training images, {steps} steps, "
               f"loss {meta['first_loss']:.5f} -> {meta['final_loss']:.5f}, "
               f"{meta['train_seconds']:.0f} s ({meta['train_cpu_seconds']:.0f} s CPU, {meta['threads']} threads)")


def register(app: typer.Typer) -> None:
    app.add_typer(pose_app, name="pose")
