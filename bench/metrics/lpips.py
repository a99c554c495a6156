"""LPIPS and mask-LPIPS (GFLA script/metrics.py, protocol.md §8).

- LPIPS v0.1, AlexNet trunk, linear layers shipped with the ``lpips`` package
  (``lpips.LPIPS(net='alex', version='0.1')``, the default of the DistModel API
  GFLA called); images as uint8/127.5 - 1, i.e. in [-1, 1]; one score per pair,
  value = mean. GFLA dropped the last partial batch of 64; we score every pair.
- mask-LPIPS: both images multiplied by the PG2 mask of the target keypoints in
  [-1, 1] space, so the background is 0 = mid grey (unlike PATN's black).

The AlexNet trunk is torchvision's ImageNet checkpoint. ``lpips`` would fetch it
through ``torchvision.models.alexnet(pretrained=True)`` (a download); instead
the trunk is built randomly and the local file from :mod:`bench.weights` is
loaded into it, with ``weights_only=True``. Missing file: metric unavailable.
"""
from __future__ import annotations

import functools
import sys
import warnings
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from bench import weights
from bench._torchvision_compat import import_torchvision
from bench.errors import BenchError
from bench.metrics.base import EvalInputs, MetricResult
from bench.metrics.protocol import Protocol, device_batch_size, feature_batch_size
from bench.metrics.specs import METRIC_SPECS
from bench.registry import METRICS


def alexnet_trunk_state(trunk: torch.nn.Module, torchvision_state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """torchvision ``features.{i}.*`` keys renamed to lpips' ``slice{k}.{i}.*`` (the layer index i is kept)."""
    return {key: torchvision_state[f"features.{key.split('.', 1)[1]}"] for key in trunk.state_dict()}


def build_network(alexnet_path: str | Path) -> torch.nn.Module:
    """LPIPS v0.1 (alex) with its shipped linear layers and the AlexNet trunk read from a local file."""
    import_torchvision()  # before lpips, which imports torchvision (~2.5 s: so only when the metric runs)
    import lpips

    with warnings.catch_warnings():  # torchvision's note about `pretrained=False`
        warnings.simplefilter("ignore", UserWarning)
        net = lpips.LPIPS(pretrained=True, net="alex", version="0.1", pnet_rand=True, verbose=False)
    state = torch.load(alexnet_path, map_location="cpu", weights_only=True)
    try:
        net.net.load_state_dict(alexnet_trunk_state(net.net, state))
    except (KeyError, RuntimeError) as err:
        raise BenchError(f"{alexnet_path}: not a torchvision AlexNet checkpoint ({err})") from None
    return net.eval()


@functools.lru_cache(maxsize=2)
def cached_network(alexnet_path: str, device: str) -> torch.nn.Module:
    return build_network(alexnet_path).to(device, memory_format=torch.channels_last)


def to_signed(images: np.ndarray) -> torch.Tensor:
    """uint8 (N, H, W, 3) -> float32 (N, 3, H, W) in [-1, 1], as imread / 127.5 - 1."""
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float() / 127.5 - 1


def lpips_scores(
    net: torch.nn.Module,
    generated: np.ndarray,
    targets: np.ndarray,
    masks: np.ndarray | None = None,
    batch_size: int | None = None,
    device: str = "cpu",
    progress: bool = False,
    channels_last: bool = True,
) -> np.ndarray:
    """(N,) float64 LPIPS per pair; ``masks`` (N, H, W) bool multiply both images in [-1, 1].

    ``batch_size`` pairs at a time (None: the device's rule, bench/metrics/protocol.py
    ``device_batch_size``), each batch channels-last on ``device`` (the network is moved there
    by :func:`cached_network`, channels-last too)."""
    batch_size = batch_size or device_batch_size(device, generated.shape[1] * generated.shape[2])
    layout = torch.channels_last if channels_last else torch.contiguous_format
    scores = []
    starts = range(0, len(generated), batch_size)
    with torch.no_grad():
        for start in tqdm(starts, desc="lpips", unit="batch", disable=not progress, file=sys.stderr):
            end = start + batch_size
            x, y = to_signed(generated[start:end]), to_signed(targets[start:end])
            if masks is not None:
                m = torch.from_numpy(masks[start:end]).unsqueeze(1).float()
                x, y = x * m, y * m
            x, y = (t.to(device, non_blocking=True).contiguous(memory_format=layout) for t in (x, y))
            scores.append(net(x, y).flatten().double().cpu())
    return torch.cat(scores).numpy() if scores else np.zeros(0)


def _network(inputs: EvalInputs, network: torch.nn.Module | None) -> torch.nn.Module:
    if network is not None:
        return network
    path = weights.require("alexnet", inputs.weights_dir)
    return cached_network(str(path), inputs.device)


def _score(inputs: EvalInputs, protocol: Protocol, network: torch.nn.Module | None, masked: bool) -> MetricResult:
    try:
        net = _network(inputs, network)
    except weights.WeightsMissing as err:
        return MetricResult.unavailable(str(err))
    masks = inputs.target_masks() if masked else None  # only once the network is there
    progress = inputs.show_progress()
    pixels = inputs.generated.shape[1] * inputs.generated.shape[2]
    scores = lpips_scores(net, inputs.generated, inputs.targets, masks, feature_batch_size(protocol, inputs.device, pixels),
                          inputs.device, progress)
    return MetricResult.from_scores(scores, backbone="alexnet", masked=masks is not None)


@METRICS.register("lpips", METRIC_SPECS["lpips"])
def lpips_metric(inputs: EvalInputs, protocol: Protocol, network: torch.nn.Module | None = None) -> MetricResult:
    return _score(inputs, protocol, network, masked=False)


@METRICS.register("mask-lpips", METRIC_SPECS["mask-lpips"])
def mask_lpips_metric(inputs: EvalInputs, protocol: Protocol, network: torch.nn.Module | None = None) -> MetricResult:
    return _score(inputs, protocol, network, masked=True)
