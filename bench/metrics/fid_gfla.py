"""FID as GFLA's script computes it (``protocol.fid_convention="gfla-script"``), so Tang et al.'s FIDs compare.

Source: RenYurui/Global-Flow-Local-Attention script/metrics.py, class ``FID`` (a TTUR
port), run as ``python -m script.metrics --fid_real_path=./dataset/fashion/train_256``
(PERSON_IMAGE_GENERATION.md); its script/inception.py as described in
reference/protocol.md section 8 (that file is not in the public index searched):

- extractor: torchvision's ``inception_v3(pretrained=True)`` ImageNet weights (not the
  TF-FID weights of torch-fidelity / pytorch-fid), 2048-d final average pool;
- input: imageio ``imread`` / 255 in [0, 1], bilinearly upsampled to 299x299
  (``F.upsample``; PyTorch >= 0.4 has ``align_corners=False``), then per channel
  ``x * (std / 0.5) + (mean - 0.5) / 0.5`` with ImageNet mean/std;
- batches of 64, ``n_batches = N // 64``: **the last partial batch is dropped**, for the
  real and for the generated set (``batch_size = N`` when N < 64);
- statistics ``np.mean`` / ``np.cov(rowvar=False)``; distance with
  ``scipy.linalg.sqrtm(sigma1 @ sigma2, disp=False)``, ``eps=1e-6`` on the diagonals
  when the product is singular, the real part kept;
- reference: the whole training set (``--fid_real_path``); generated: every image of
  the results folder.

What differs, recorded in the details: GFLA reads both folders in ``Path.glob`` order
(file-system order), which decides which images fall in the dropped partial batch; we
use the training images sorted by name and the generated images in test-pair order.
Both folders are in the protocol's geometry (DeepFashion: 256x256, bench/metrics/geometry.py).

Weights: ``inception_v3_google-0cc3c7bd.pth`` from :mod:`bench.weights`, loaded with
``weights_only=True``; missing: the metric is unavailable. Tests pass ``network``: any
module mapping (N, 3, H, W) floats in [0, 1] to (N, D) features.
"""
from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import numpy as np
import scipy.linalg
import torch
import torch.nn.functional as F
from torch import nn

from bench import weights
from bench.errors import BenchError
from bench.metrics.base import EvalInputs, MetricResult
from bench.metrics.protocol import Protocol

BATCH = 64  # script/metrics.py FID.batch_size
INPUT_SIZE = 299
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
EPS = 1e-6
WEIGHTS = "inception-torchvision"
_BLOCKS = ("Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "maxpool1", "Conv2d_3b_1x1", "Conv2d_4a_3x3", "maxpool2",
           "Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d", "Mixed_6e",
           "Mixed_7a", "Mixed_7b", "Mixed_7c")


def preprocess(batch: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) in [0, 1] -> the network's input: bilinear to 299x299, then GFLA's per-channel affine map."""
    x = F.interpolate(batch.float(), size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False)
    scale = torch.tensor([s / 0.5 for s in IMAGENET_STD], dtype=x.dtype).view(1, 3, 1, 1)
    shift = torch.tensor([(m - 0.5) / 0.5 for m in IMAGENET_MEAN], dtype=x.dtype).view(1, 3, 1, 1)
    return x * scale + shift


class GflaInception(nn.Module):
    """torchvision's Inception v3 trunk up to the 2048-d average pool, fed as GFLA's script feeds it."""

    def __init__(self, state: dict[str, torch.Tensor] | None = None):
        super().__init__()
        from bench._torchvision_compat import import_torchvision

        models = import_torchvision().models
        net = models.inception_v3(weights=None, aux_logits=True, init_weights=False)
        if state is not None:
            try:
                net.load_state_dict(state)
            except RuntimeError as err:
                raise BenchError(f"not a torchvision Inception v3 checkpoint ({str(err).splitlines()[0]})") from None
        self.blocks = nn.Sequential(*(getattr(net, name) for name in _BLOCKS))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.adaptive_avg_pool2d(self.blocks(preprocess(x)), 1).flatten(1)


def load_network(path: str | Path, device: str = "cpu") -> nn.Module:
    state = torch.load(path, map_location="cpu", weights_only=True)
    try:
        return GflaInception(state).eval().to(device)
    except BenchError as err:
        raise BenchError(f"{path}: {err}") from None


def used_count(n: int, batch: int = BATCH) -> tuple[int, int]:
    """(batch size, images used) of the script: the batch shrinks to N when N < 64; N // batch full batches."""
    if n <= 0:
        return batch, 0
    size = min(batch, n)
    return size, (n // size) * size


def activations(images, network: nn.Module, device: str = "cpu", progress: bool = False) -> np.ndarray:
    """(N_used, D) float64 features of the first N_used images (uint8 (N, H, W, 3) array or a
    dataset of uint8 CHW tensors), in batches of 64, the last partial batch dropped."""
    size, used = used_count(len(images))
    out = []
    with torch.no_grad():
        for start in range(0, used, size):
            if isinstance(images, np.ndarray):
                batch = torch.from_numpy(np.ascontiguousarray(images[start:start + size])).permute(0, 3, 1, 2)
            else:
                batch = torch.stack([images[i] for i in range(start, start + size)])
            features = network(batch.to(device).float() / 255)
            out.append(features.reshape(len(batch), -1).double().cpu().numpy())
            if progress:
                print(f"\rfid (gfla-script): batch {start // size + 1}/{used // size}", end="", file=sys.stderr, flush=True)
    if progress and out:
        print(file=sys.stderr)
    return np.concatenate(out) if out else np.zeros((0, 0))


def statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.mean(features, axis=0), np.cov(features, rowvar=False)


def frechet(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray, eps: float = EPS) -> float:
    """||mu1 - mu2||^2 + Tr(S1 + S2 - 2 sqrtm(S1 S2)) as script/metrics.py computes it (TTUR's stable version)."""
    mu1, mu2, sigma1, sigma2 = np.atleast_1d(mu1), np.atleast_1d(mu2), np.atleast_2d(sigma1), np.atleast_2d(sigma2)
    diff = mu1 - mu2
    covmean = scipy.linalg.sqrtm(sigma1.dot(sigma2))  # GFLA: disp=False and the estimate dropped (deprecated in SciPy)
    if not np.isfinite(covmean).all():
        offset = np.eye(sigma1.shape[0]) * eps
        covmean = scipy.linalg.sqrtm((sigma1 + offset).dot(sigma2 + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            raise BenchError(f"FID (gfla-script): imaginary component {np.max(np.abs(covmean.imag))} in sqrtm(S1 S2)")
        covmean = covmean.real
    return float(diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))


def _network(inputs: EvalInputs, network: nn.Module | None) -> tuple[nn.Module, str | None]:
    if network is not None:
        return network, None
    path = weights.require(WEIGHTS, inputs.weights_dir)
    return load_network(path, inputs.device), str(path)


def _cache_path(inputs: EvalInputs, fingerprint: str, weights_name: str | None) -> Path:
    from bench.metrics.inception import cache_dir

    key = hashlib.sha256("\n".join([fingerprint, "gfla-script", str(BATCH), weights_name or "-"]).encode()).hexdigest()[:32]
    return cache_dir(inputs) / f"{key}.npz"


def fid_gfla(inputs: EvalInputs, protocol: Protocol, network: nn.Module | None = None) -> MetricResult:
    from bench.metrics.inception import cached_stats, geometry, reference_set

    try:
        net, weights_path = _network(inputs, network)
    except weights.WeightsMissing as err:
        return MetricResult.unavailable(str(err))
    reference = reference_set(inputs, protocol)
    if isinstance(reference, str):
        return MetricResult.unavailable(reference)
    dataset, fingerprint, described = reference
    n_ref, n_gen = used_count(len(dataset))[1], used_count(len(inputs.generated))[1]
    if n_ref < 2 or n_gen < 2:
        return MetricResult.unavailable("FID needs at least 2 generated and 2 reference images")
    progress = inputs.show_progress()

    def compute() -> dict[str, np.ndarray]:
        mu, sigma = statistics(activations(dataset, net, inputs.device, progress))
        return {"mu": mu, "sigma": sigma}

    # A test network is not a published file: its statistics are never cached.
    if network is None:
        path = _cache_path(inputs, fingerprint, Path(weights_path).name)
        ref, hit = cached_stats(path, compute, {"reference": described, "n_used": n_ref, "convention": "gfla-script"})
    else:
        path, ref, hit = None, compute(), False
    mu, sigma = statistics(activations(inputs.generated, net, inputs.device, progress))
    value = frechet(mu, sigma, ref["mu"], ref["sigma"])
    return MetricResult(value, details={
        "convention": "gfla-script", "extractor": "torchvision inception_v3 (ImageNet), GFLA input map",
        "weights": weights_path, "batch": BATCH, "reference": protocol.fid_reference, "reference_set": described,
        "n_reference": len(dataset), "n_reference_used": n_ref, "n_generated": len(inputs.generated),
        "n_generated_used": n_gen, "order": "reference sorted by name, generated in test-pair order (GFLA: glob order)",
        "geometry": geometry(inputs, protocol).name, "cache": None if path is None else str(path), "cache_hit": hit,
    })
