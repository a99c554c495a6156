"""Model size and inference speed, as in PoNA's Table II (parameters, frames per second).

Speed is the generator's forward pass only (no data loading, as in the paper), in
eval mode under ``torch.inference_mode``, after warm-up iterations, with the device
synchronised before the clock is read. Several models are timed in one process in
interleaved rounds (:func:`profile_models`), so that their ratios (PoNA Table II:
PoNA-3 / PATN) are measured side by side; each reports the min and median.
"""
from __future__ import annotations

import statistics
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


def _check(dataset: str, rounds: int, warmup: int, batch: int) -> None:
    if dataset not in KINDS:
        raise BenchError(f"unknown dataset {dataset!r}; choose one of {', '.join(KINDS)}")
    if rounds < 1 or warmup < 0 or batch < 1:
        raise BenchError("--rounds and --batch must be >= 1 and --warmup >= 0")


def _timed_forward(model, inputs: dict[str, torch.Tensor], dev: torch.device) -> float:
    _synchronize(dev)
    start = time.perf_counter()
    model(inputs)
    _synchronize(dev)
    return time.perf_counter() - start


def profile_models(names: list[str], dataset: str = "deepfashion", device: str = "cpu", batch: int = 1,
                   rounds: int = 5, warmup: int = 1, progress: bool = True, **config: Any) -> list[dict[str, Any]]:
    """Parameters of G and each D, and generator speed at ``batch``, of several models timed side by side.

    Every model is built and warmed up first; then each of ``rounds`` rounds times one forward
    pass of every model, the order rotated from round to round, so that a busy minute of a
    shared machine falls on all models alike and their ratios stay comparable. Each model
    reports the min and the median over its rounds (fps from the median).
    """
    _check(dataset, rounds, warmup, batch)
    if len(set(names)) != len(names):
        raise BenchError(f"a model is named twice: {', '.join(names)}")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise BenchError("--device cuda requested but no CUDA device is available")
    from tqdm import tqdm

    inputs = random_batch(batch, KINDS[dataset].image_size, dev)
    generators, params = {}, {}
    for name in names:
        model = create_model(name, dataset, **config)
        params[name] = parameter_counts(model)
        model.discriminators.clear()  # counted; only G is timed (and several models share the memory)
        generators[name] = model.to(dev).eval()
    seconds: dict[str, list[float]] = {name: [] for name in names}
    with torch.inference_mode():
        for name in names:
            for _ in range(warmup):
                generators[name](inputs)
        for r in tqdm(range(rounds), desc="profile rounds", disable=not progress, leave=False):
            shift = r % len(names)
            for name in names[shift:] + names[:shift]:
                seconds[name].append(_timed_forward(generators[name], inputs, dev))
    return [_result(name, dataset, batch, rounds, warmup, config, params[name], seconds[name], names, dev)
            for name in names]


def _result(name: str, dataset: str, batch: int, rounds: int, warmup: int, config: dict, params: dict,
            seconds: list[float], names: list[str], dev: torch.device) -> dict[str, Any]:
    median = statistics.median(seconds)
    return {
        "model": name,
        "dataset": dataset,
        "image_size": list(KINDS[dataset].image_size),
        "config": config,
        "params": params,
        "batch": batch,
        "rounds": rounds,
        "warmup": warmup,
        "interleaved_with": [n for n in names if n != name],
        "seconds": seconds,  # one forward pass per round, in round order
        "seconds_min": min(seconds),
        "seconds_median": median,
        "seconds_per_batch": median,
        "fps": batch / median,
        "device": device_name(str(dev)),
        "threads": torch.get_num_threads(),
        "provenance": provenance(command="bench profile"),
    }


def profile(name: str, dataset: str = "deepfashion", device: str = "cpu", batch: int = 1, rounds: int = 5,
            warmup: int = 1, progress: bool = True, **config: Any) -> dict[str, Any]:
    """One model's :func:`profile_models` result."""
    return profile_models([name], dataset, device, batch, rounds, warmup, progress, **config)[0]


def speed_ratios(results: list[dict[str, Any]], reference: str) -> list[dict[str, Any]]:
    """Each model's speed over ``reference``'s (fps ratio = the reference's seconds over the model's):
    from the medians, and the min and median of the per-round ratios (same round, same load)."""
    by_name = {r["model"]: r for r in results}
    if reference not in by_name:
        raise BenchError(f"--ratio-to {reference!r} is not among the profiled models: {', '.join(by_name)}")
    ref = by_name[reference]
    rows = []
    for r in results:
        per_round = [a / b for a, b in zip(ref["seconds"], r["seconds"])]
        rows.append({"model": r["model"], "reference": reference, "fps_ratio": ref["seconds_median"] / r["seconds_median"],
                     "round_ratio_min": min(per_round), "round_ratio_median": statistics.median(per_round),
                     "params_ratio": r["params"]["generator"] / ref["params"]["generator"]})
    return rows
