"""`bench pose ...`: the pose estimator used for PCKh."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

pose_app = typer.Typer(help="Pose estimators for PCKh: train the heatmap estimator, annotate images.", no_args_is_help=True)


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


@pose_app.command("annotate")
def annotate_cmd(
    images: list[Path] = typer.Argument(..., help="image files or folders of images"),
    out: Path = typer.Option(..., "--out", help="annotation CSV to write (name:keypoints_y:keypoints_x, the datasets' format)"),
    estimator: str = typer.Option("rtmpose", "--estimator",
                                  help="rtmpose (fetched on first use), rtmpose:PATH (ONNX) or heatmap:PATH"),
    weights_dir: Optional[Path] = typer.Option(None, "--weights-dir", help="folder with the estimator's weights"),
) -> None:
    """Find the 18 OpenPose keypoints of each image and write them in the original annotation format."""
    from bench.errors import BenchError
    from bench.pose_estimator import load_estimator
    from bench.pose_estimator.annotate import annotate, check_out

    if estimator.partition(":")[0] in ("csv", "none", ""):
        raise BenchError(f"--estimator {estimator!r} finds no keypoints; use rtmpose, rtmpose:PATH or heatmap:PATH")
    check_out(out)  # before the model is loaded (and perhaps downloaded)
    chosen = load_estimator(estimator, weights_dir)
    rows = annotate(images, out, chosen)
    found = sum(int((kp[:, 0] >= 0).sum()) for kp in rows.values())
    typer.echo(f"{out}: {len(rows)} images, {found} keypoints found of {18 * len(rows)}; estimator {chosen.name}")


def register(app: typer.Typer) -> None:
    app.add_typer(pose_app, name="pose")
