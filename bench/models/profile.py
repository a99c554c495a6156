"""Model size and inference speed, as in PoNA's Table II (parameters, frames per second).

Speed is the generator's forward pass only (no data loading, as in the paper), in
eval mode under ``torch.inference_mode``, after warm-up iterations, with the device
synchronised before the clock is read.
"""
from __future__ import annotations

import time
from typing import Any

import torch

from bench.data.layout import KINDS
from bench.errors import BenchError
from bench.io import device_name, provenance
from bench.models import count_parameters, create_model


def parameter_counts(model) -> dict[str, Any]:
    return {
        "generator": count_parameters(model.generator),
        "discriminators": {name: count_parameters(d) for name, d in model.discriminators.items()},
    }


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# A standing person in normalised (y, x) image coordinates, OpenPose order: the
# timing batch carries plausible keypoints because several generators (Def-GAN,
# PG2, ...) build part transforms or disk maps from them.
_STANDING = (
    (0.10, 0.50), (0.20, 0.50), (0.21, 0.35), (0.35, 0.30), (0.48, 0.28), (0.21, 0.65), (0.35, 0.70),
    (0.48, 0.72), (0.50, 0.40), (0.70, 0.40), (0.90, 0.40), (0.50, 0.60), (0.70, 0.60), (0.90, 0.60),
    (0.08, 0.46), (0.08, 0.54), (0.09, 0.42), (0.09, 0.58),
)


def random_batch(batch: int, size: tuple[int, int], device: torch.device) -> dict[str, torch.Tensor]:
    """A fixed-seed batch of noise images and one standing pose: what a forward or a training step is timed on."""
    from bench.data.pose import heatmaps

    g = torch.Generator().manual_seed(0)
    h, w = size
    keypoints = (torch.tensor(_STANDING) * torch.tensor([h - 1, w - 1])).round().expand(batch, -1, -1).contiguous()
    image = lambda: (torch.rand(batch, 3, h, w, generator=g) * 2 - 1).to(device)  # noqa: E731
    pose = heatmaps(keypoints, size).to(device)
    return {
        "source": image(), "target": image(), "source_pose": pose, "target_pose": pose.clone(),
        "source_keypoints": keypoints.to(device), "target_keypoints": keypoints.clone().to(device),
    }


def profile(name: str, dataset: str = "deepfashion", device: str = "cpu", batch: int = 1, iters: int = 20,
            warmup: int = 3, progress: bool = True, **config: Any) -> dict[str, Any]:
    """Parameters of G and each D, and generator frames per second at ``batch``."""
    if dataset not in KINDS:
        raise BenchError(f"unknown dataset {dataset!r}; choose one of {', '.join(KINDS)}")
    if iters < 1 or warmup < 0 or batch < 1:
        raise BenchError("--iters and --batch must be >= 1 and --warmup >= 0")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise BenchError("--device cuda requested but no CUDA device is available")
    model = create_model(name, dataset, **config).to(dev).eval()
    inputs = random_batch(batch, KINDS[dataset].image_size, dev)

    from tqdm import tqdm

    with torch.inference_mode():
        for _ in tqdm(range(warmup), desc=f"{name} warm-up", disable=not progress, leave=False):
            model(inputs)
        _synchronize(dev)
        start = time.perf_counter()
        for _ in tqdm(range(iters), desc=f"{name} timing", disable=not progress, leave=False):
            model(inputs)
        _synchronize(dev)
        elapsed = time.perf_counter() - start
    return {
        "model": name,
        "dataset": dataset,
        "image_size": list(KINDS[dataset].image_size),
        "config": config,
        "params": parameter_counts(model),
        "batch": batch,
        "iters": iters,
        "warmup": warmup,
        "seconds_per_batch": elapsed / iters,
        "fps": batch * iters / elapsed,
        "device": device_name(str(dev)),
        "threads": torch.get_num_threads(),
        "provenance": provenance(command="bench profile"),
    }
