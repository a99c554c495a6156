"""Model size and inference speed, as in PoNA's Table II (parameters, frames per second).

Speed is the generator's forward pass only (no data loading, as in the paper), in
eval mode under ``torch.inference_mode``, after warm-up iterations, with the device
synchronised before the clock is read. Several models are timed in one process in
interleaved rounds (:func:`profile_interleaved`), so their ratios are measured side by side.
"""
from __future__ import annotations

import statistics
import sys
import time
from typing import Any

import torch

from bench.data.layout import KINDS
from bench.errors import BenchError
from bench.io import device_name, provenance
from bench.models import count_parameters, create_model
from bench.train.distributed import synchronize


def parameter_counts(model) -> dict[str, Any]:
    return {
        "generator": count_parameters(model.generator),
        "discriminators": {name: count_parameters(d) for name, d in model.discriminators.items()},
    }


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
    """Parameters of G and each D, and generator frames per second at ``batch`` (one model, one round)."""
    return profile_interleaved([name], dataset, device, batch, iters, warmup, rounds=1, progress=progress,
                               config=config)[0]


def profile_interleaved(names: list[str], dataset: str = "deepfashion", device: str = "cpu", batch: int = 1,
                        iters: int = 20, warmup: int = 3, rounds: int = 3, progress: bool = True,
                        config: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Every model built once in this process, then timed in ``rounds`` interleaved rounds of ``iters``
    forwards each (model 1, model 2, ..., model 1, ...), so that a load change on a shared machine
    falls on all of them alike. ``seconds_per_batch`` is the median round; ``min_seconds_per_batch``
    the fastest."""
    if dataset not in KINDS:
        raise BenchError(f"unknown dataset {dataset!r}; choose one of {', '.join(KINDS)}")
    if iters < 1 or warmup < 0 or batch < 1 or rounds < 1:
        raise BenchError("--iters, --batch and --rounds must be >= 1 and --warmup >= 0")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise BenchError("--device cuda requested but no CUDA device is available")
    config = dict(config or {})
    models = {name: create_model(name, dataset, **config).to(dev).eval() for name in dict.fromkeys(names)}
    inputs = random_batch(batch, KINDS[dataset].image_size, dev)
    times: dict[str, list[float]] = {name: [] for name in models}
    with torch.inference_mode():
        for name, model in models.items():
            _forwards(model, inputs, warmup, dev)
        for r in range(rounds):
            if progress:
                print(f"profile: round {r + 1}/{rounds}", file=sys.stderr, flush=True)
            for name, model in models.items():
                times[name].append(_forwards(model, inputs, iters, dev) / iters)
    return [_result(name, model, times[name], dataset, dev, batch, iters, warmup, config) for name, model in models.items()]


def _forwards(model, inputs: dict[str, torch.Tensor], n: int, dev: torch.device) -> float:
    """Seconds for ``n`` forward passes, the device synchronised before the clock is read."""
    synchronize(dev)
    start = time.perf_counter()
    for _ in range(n):
        model(inputs)
    synchronize(dev)
    return time.perf_counter() - start


def _result(name: str, model, seconds: list[float], dataset: str, dev: torch.device, batch: int, iters: int,
            warmup: int, config: dict[str, Any]) -> dict[str, Any]:
    median = statistics.median(seconds)
    return {
        "model": name,
        "dataset": dataset,
        "image_size": list(KINDS[dataset].image_size),
        "config": config,
        "params": parameter_counts(model),
        "batch": batch,
        "iters": iters,
        "warmup": warmup,
        "rounds": len(seconds),
        "round_seconds_per_batch": seconds,
        "seconds_per_batch": median,
        "min_seconds_per_batch": min(seconds),
        "fps": batch / median,
        "device": device_name(str(dev)),
        "threads": torch.get_num_threads(),
        "provenance": provenance(command="bench profile"),
    }
