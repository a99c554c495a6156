"""Inception Score, mask-IS and FID, computed with torch-fidelity's TF-compatible Inception.

Protocol (reference/protocol.md §5, §8):

- IS: OpenAI improved-GAN code as PG2/PATN/pose-gan ran it: the 2015-12-05 TF
  Inception graph (torch-fidelity's ``inception-v3-compat``, bit-exact port,
  TF1 bilinear resize to 299), softmax of the unbiased logits, **10 splits in
  file order** (no shuffle), value = mean over splits, std in the details.
- DeepFashion in geometry ``patn``: 176x256 images are padded with 40 px of
  white per side to 256x256 first (PATN ``addBounding``), for IS and mask-IS
  only; FID and KID are never padded (no paper pads them). Geometry ``gfla``:
  everything resized to 256x256; ``posegan``: the 256x256 frame as it is
  (bench/metrics/geometry.py).
- mask-IS: IS of the generated images multiplied by the PG2 mask of the target
  keypoints (background 0 = black); the targets are not used.
- FID (``protocol.fid_convention="torch-fidelity"``): all generated test images
  against the **whole training set** (GFLA), or against the distinct test
  targets (``protocol.fid_reference="test-targets"``), with the TF-FID weights
  (TTUR / pytorch-fid convention) and every image. ``"gfla-script"`` is GFLA's
  own script (torchvision's ImageNet Inception, batches of 64, last partial
  batch dropped): bench/metrics/fid_gfla.py.
  Reference statistics are cached on disk, keyed by the image set and extractor.
- KID: torch-fidelity's ``kid_features_to_metric`` (polynomial kernel
  (x.y/d + 1)^3, unbiased MMD^2 over 100 random subsets of
  min(1000, n_generated, n_reference), seed 2020: torch-fidelity's defaults) on the same 2048-d features and
  reference set as FID; value = the subsets' mean, std in the details. It needs
  the reference features themselves, so unlike FID (whose statistics are cached)
  it reads the reference set on every run.

Each step is a small function over arrays/tensors; the registered metrics chain
them. ``extractor`` names a torch-fidelity feature extractor, so tests can route
the same code through a tiny network of their own.
"""
from __future__ import annotations

import hashlib
import importlib
import json
import os
import sys
import weakref
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset
from tqdm import tqdm

from bench import weights
from bench._torchvision_compat import import_torchvision
from bench.io import atomic_path
from bench.metrics.base import EvalInputs, MetricResult
from bench.metrics.geometry import PAD, Geometry, geometry_of, resize_image
from bench.metrics.protocol import Protocol, device_batch_size, feature_batch_size
from bench.metrics.specs import KID_SEED, KID_SUBSET_SIZE, KID_SUBSETS, METRIC_SPECS
from bench.registry import METRICS

INCEPTION = "inception-v3-compat"
IS_SPLITS = 10
FASHION_PAD = PAD  # px of white per side: 176 -> 256 (PATN getMetrics_fashion.py; bench/metrics/geometry.py)
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
FID_REFERENCES = ("train", "test-targets")
_EXTRACTOR_WEIGHTS = {INCEPTION: "inception-fidelity"}  # extractor -> bench.weights name
_FIDELITY_VERSION = version("torch-fidelity")


# ----------------------------------------------------------------------------- torch-fidelity, imported on use
# Importing torch-fidelity imports torchvision (and torch._dynamo through it): ~2.5 s,
# more than scoring a synthetic test split with the other metrics takes. Runs whose
# Inception weights are missing, or that ask for other metrics, never pay it.


def _fidelity(module: str):
    import_torchvision()  # before torch_fidelity (see bench/_torchvision_compat.py)
    return importlib.import_module(f"torch_fidelity.{module}")


def resolve_feature_layer_for_metric(metric: str, feature_extractor: str) -> str:
    return _fidelity("utils").resolve_feature_layer_for_metric(metric, feature_extractor=feature_extractor)


def create_feature_extractor(name: str, layers: list[str], **kwargs):
    return _fidelity("utils").create_feature_extractor(name, layers, **kwargs)


def isc_features_to_metric(logits: torch.Tensor, **kwargs) -> dict[str, float]:
    return _fidelity("metric_isc").isc_features_to_metric(logits, **kwargs)


def fid_features_to_statistics(features: torch.Tensor) -> dict[str, np.ndarray]:
    return _fidelity("metric_fid").fid_features_to_statistics(features)


def fid_statistics_to_metric(stats1: dict, stats2: dict, **kwargs) -> dict[str, float]:
    return _fidelity("metric_fid").fid_statistics_to_metric(stats1, stats2, **kwargs)


# ----------------------------------------------------------------------------- images


def pad_white(image: np.ndarray, pad: int, value: int = 255) -> np.ndarray:
    """(H, W, 3) -> (H, W + 2*pad, 3) with white (or ``value``) columns on both sides."""
    return np.pad(image, ((0, 0), (pad, pad), (0, 0)), constant_values=value)


def geometry(inputs: EvalInputs, protocol: Protocol) -> Geometry:
    return geometry_of(inputs.layout.kind.name, protocol.fashion_geometry)


def fashion_pad(inputs: EvalInputs, protocol: Protocol, metric: str = "is") -> int:
    """Padding per side before ``metric`` on this dataset and protocol (0 = none; bench/metrics/geometry.py)."""
    return geometry(inputs, protocol).pad(metric)


def target_masks(inputs: EvalInputs) -> np.ndarray:
    """(N, H, W) bool PG2 masks of the target keypoints (shared: EvalInputs.target_masks)."""
    return inputs.target_masks()


def to_chw(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)


class ImageArrayDataset(Dataset):
    """uint8 (N, H, W, 3) images as uint8 CHW tensors, masked and padded per item (no full copy)."""

    def __init__(self, images: np.ndarray, masks: np.ndarray | None = None, pad: int = 0):
        self.images, self.masks, self.pad = images, masks, pad

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> torch.Tensor:
        image, background = self.images[i], 255
        if self.masks is not None:
            # The padded columns lie outside the target mask, so a masked image is
            # padded black, like its own background (as mask-SSIM does).
            image, background = image * self.masks[i][..., None].astype(np.uint8), 0
        return to_chw(pad_white(image, self.pad, background) if self.pad else image)


class ImageFileDataset(Dataset):
    """Image files read on demand (the training set does not fit in memory comfortably),
    each of ``size`` and resized to ``scored`` (the geometry's size) when that differs."""

    def __init__(self, paths: list[Path], size: tuple[int, int], pad: int = 0, scored: tuple[int, int] | None = None):
        self.paths, self.size, self.pad, self.scored = paths, size, pad, scored or size

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> torch.Tensor:
        from bench.data.images import load_image

        image = resize_image(load_image(self.paths[i], size=self.size), self.scored)
        return to_chw(pad_white(image, self.pad) if self.pad else image)


def image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES) if folder.is_dir() else []


# ----------------------------------------------------------------------------- features


def extractor_weights(extractor: str, weights_dir: str | Path | None) -> Path | None:
    """The local weights file of a real extractor; WeightsMissing rather than a download."""
    name = _EXTRACTOR_WEIGHTS.get(extractor)
    return weights.require(name, weights_dir) if name else None


def feature_layer(extractor: str, metric: str) -> str:
    """The extractor's layer for "isc" (logits_unbiased) or "fid" (2048)."""
    return resolve_feature_layer_for_metric(metric, feature_extractor=extractor)


def extract_features(
    dataset: Dataset,
    extractor: str,
    layers: list[str],
    weights_path: Path | None = None,
    device: str = "cpu",
    batch_size: int | None = None,
    verbose: bool = False,
    channels_last: bool = True,
) -> dict[str, torch.Tensor]:
    """Run a torch-fidelity extractor over a dataset of uint8 CHW tensors: {layer: (N, D) float32}.

    The loop of torch-fidelity's ``get_featuresdict_from_dataset`` (every image, in order), with the
    network and each batch channels-last (oneDNN's and cuDNN's fast layout) on ``device``
    (``cuda:N`` included), ``batch_size`` images at a time (None: the device's rule,
    bench/metrics/protocol.py ``device_batch_size``).
    """
    from torch.utils.data import DataLoader

    dev = torch.device(device)
    batch_size = batch_size or device_batch_size(device)
    net = create_feature_extractor(
        extractor, layers, cuda=False, verbose=verbose,
        feature_extractor_weights_path=str(weights_path) if weights_path else None,
    )
    layout = torch.channels_last if channels_last else torch.contiguous_format
    net = net.to(dev, memory_format=layout)
    loader = DataLoader(dataset, batch_size=max(1, min(batch_size, len(dataset))), shuffle=False, drop_last=False,
                        num_workers=0, pin_memory=dev.type == "cuda")
    out: dict[str, list[torch.Tensor]] = {layer: [] for layer in layers}
    with torch.no_grad():
        for batch in tqdm(loader, desc=extractor, unit="batch", disable=not verbose, leave=False, file=sys.stderr):
            batch = batch.to(dev, non_blocking=True).contiguous(memory_format=layout)
            for layer, value in net.convert_features_tuple_to_dict(net(batch)).items():
                out[layer].append(value.float().cpu())
    return {layer: torch.cat(values) if values else torch.zeros(0) for layer, values in out.items()}


# Generated images feed IS and FID with one Inception pass: the features of the
# last array seen are kept while that array lives (evaluation never edits it in place).
_last: dict[str, object] = {}


def generated_features(inputs: EvalInputs, protocol: Protocol, extractor: str, weights_path: Path | None,
                       pad: int = 0) -> dict[str, torch.Tensor]:
    """Both layers of the generated images with ``pad`` columns per side: IS and FID share the pass when their padding agrees."""
    images = inputs.generated
    key = (extractor, str(weights_path), pad, inputs.device, images.shape)
    if _last.get("key") == key and _last["ref"]() is images:
        return _last["features"]
    layers = list(dict.fromkeys([feature_layer(extractor, "isc"), feature_layer(extractor, "fid")]))
    dataset = ImageArrayDataset(images, pad=pad)
    features = extract_features(dataset, extractor, layers, weights_path, inputs.device, feature_batch_size(protocol, inputs.device), _verbose(inputs))
    _last.clear()
    _last.update(key=key, ref=weakref.ref(images), features=features)
    weakref.finalize(images, _forget_dead)
    return features


def _forget_dead() -> None:
    ref = _last.get("ref")
    if ref is not None and ref() is None:
        _last.clear()


def _str(path: Path | None) -> str | None:
    return str(path) if path else None


def _verbose(inputs: EvalInputs) -> bool:
    return inputs.show_progress()


# ----------------------------------------------------------------------------- IS


def inception_score_from_logits(logits: torch.Tensor, splits: int = IS_SPLITS) -> tuple[float, float]:
    """Mean and std over ``splits`` consecutive chunks of exp(E_x KL(p(y|x) || p(y)))."""
    out, isc = isc_features_to_metric(logits, splits=splits, shuffle=False), _fidelity("metric_isc")
    return out[isc.KEY_METRIC_ISC_MEAN], out[isc.KEY_METRIC_ISC_STD]


def _too_few_for_is(inputs: EvalInputs) -> MetricResult | None:
    if len(inputs.generated) < IS_SPLITS:
        return MetricResult.unavailable(f"IS needs at least {IS_SPLITS} images ({IS_SPLITS} splits), got {len(inputs.generated)}")
    return None


def _is_result(logits: torch.Tensor, **details) -> MetricResult:
    mean, std = inception_score_from_logits(logits)
    return MetricResult(mean, details={"std": std, "splits": IS_SPLITS, "n": len(logits), **details})


@METRICS.register("is", METRIC_SPECS["is"])
def inception_score(inputs: EvalInputs, protocol: Protocol, extractor: str = INCEPTION) -> MetricResult:
    if (few := _too_few_for_is(inputs)) is not None:
        return few
    try:
        weights_path = extractor_weights(extractor, inputs.weights_dir)
    except weights.WeightsMissing as err:
        return MetricResult.unavailable(str(err))
    pad = fashion_pad(inputs, protocol, "is")
    logits = generated_features(inputs, protocol, extractor, weights_path, pad)[feature_layer(extractor, "isc")]
    return _is_result(logits, extractor=extractor, weights=_str(weights_path), pad=pad)


@METRICS.register("mask-is", METRIC_SPECS["mask-is"])
def mask_inception_score(inputs: EvalInputs, protocol: Protocol, extractor: str = INCEPTION) -> MetricResult:
    if (few := _too_few_for_is(inputs)) is not None:
        return few
    try:
        weights_path = extractor_weights(extractor, inputs.weights_dir)
    except weights.WeightsMissing as err:
        return MetricResult.unavailable(str(err))
    pad = fashion_pad(inputs, protocol, "mask-is")
    dataset = ImageArrayDataset(inputs.generated, masks=target_masks(inputs), pad=pad)
    layer = feature_layer(extractor, "isc")
    logits = extract_features(dataset, extractor, [layer], weights_path, inputs.device, feature_batch_size(protocol, inputs.device), _verbose(inputs))[layer]
    return _is_result(logits, extractor=extractor, weights=_str(weights_path), pad=pad)


# ----------------------------------------------------------------------------- FID


def fid_statistics(features: torch.Tensor) -> dict[str, np.ndarray]:
    """mu and sigma (np.cov) of (N, D) features."""
    return fid_features_to_statistics(features)


def frechet_distance(stats1: dict[str, np.ndarray], stats2: dict[str, np.ndarray]) -> float:
    return fid_statistics_to_metric(stats1, stats2, verbose=False)[_fidelity("metric_fid").KEY_METRIC_FID]


def cache_dir(inputs: EvalInputs) -> Path:
    if inputs.cache_dir:
        return Path(inputs.cache_dir) / "fid"
    if os.environ.get("BENCH_CACHE_DIR"):
        return Path(os.environ["BENCH_CACHE_DIR"]) / "fid"
    return Path.home() / ".cache" / "posetransferbench" / "fid"


def files_fingerprint(paths: list[Path]) -> str:
    """sha256 over names, sizes and mtimes: changes whenever a file is added, removed or rewritten."""
    digest = hashlib.sha256()
    for path in paths:
        stat = path.stat()
        digest.update(f"{path.name}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def arrays_fingerprint(names: list[str], images: np.ndarray) -> str:
    digest = hashlib.sha256("\n".join(names).encode())
    digest.update(np.ascontiguousarray(images).tobytes())
    return digest.hexdigest()


def cache_key(fingerprint: str, extractor: str, layer: str, weights_path: Path | None, pad: int) -> str:
    """Everything the reference statistics depend on, hashed into a file name."""
    parts = [fingerprint, extractor, layer, weights_path.name if weights_path else "-", f"pad{pad}", _FIDELITY_VERSION]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]


def load_stats(path: Path) -> dict[str, np.ndarray] | None:
    if not path.is_file():
        return None
    with np.load(path, allow_pickle=False) as data:
        return {"mu": data["mu"], "sigma": data["sigma"]}


def save_stats(path: Path, stats: dict[str, np.ndarray], meta: dict) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, mu=stats["mu"], sigma=stats["sigma"], meta=np.array(json.dumps(meta)))


def cached_stats(path: Path, compute: Callable[[], dict[str, np.ndarray]], meta: dict) -> tuple[dict[str, np.ndarray], bool]:
    """Statistics from ``path`` if cached there, else computed and cached; also says whether it was a hit."""
    stats = load_stats(path)
    if stats is not None:
        return stats, True
    stats = compute()
    try:
        save_stats(path, stats, meta)
    except OSError as err:  # a read-only cache costs time, not the result
        print(f"warning: cannot cache FID reference statistics at {path}: {err}", file=sys.stderr)
    return stats, False


def reference_set(inputs: EvalInputs, protocol: Protocol, pad: int = 0) -> tuple[Dataset, str, str] | str:
    """(dataset, fingerprint, description) of the FID reference images in the scored geometry, or why there are none.
    The training images are read in the dataset frame and resized like the test images (geometry ``gfla``)."""
    scored = geometry(inputs, protocol).size
    if protocol.fid_reference == "train":
        folder = inputs.layout.images("train")
        paths = image_files(folder)
        if not paths:
            return f"no training images in {folder} for the FID reference (GFLA protocol); use fid_reference='test-targets'"
        fingerprint = files_fingerprint(paths) + ("" if scored == inputs.layout.kind.image_size else f"@{scored[0]}x{scored[1]}")
        return ImageFileDataset(paths, inputs.layout.kind.image_size, pad, scored), fingerprint, str(folder)
    first = {to: i for i, (_, to) in reversed(list(enumerate(inputs.pairs)))}
    names = sorted(first)
    targets = inputs.targets[[first[n] for n in names]]  # already in the scored geometry
    return ImageArrayDataset(targets, pad=pad), arrays_fingerprint(names, targets), f"{len(names)} distinct test targets"


def _check_reference(protocol: Protocol) -> None:
    if protocol.fid_reference not in FID_REFERENCES:
        raise ValueError(f"protocol.fid_reference must be one of {FID_REFERENCES}, got {protocol.fid_reference!r}")


def reference_features(inputs: EvalInputs, protocol: Protocol, extractor: str, weights_path: Path | None,
                       layer: str, pad: int) -> tuple[Dataset, str, torch.Tensor] | str:
    """(dataset, description, (N, D) features) of the reference set, or why there is none; not cached (KID needs them all)."""
    reference = reference_set(inputs, protocol, pad)
    if isinstance(reference, str):
        return reference
    dataset, _, described = reference
    features = extract_features(dataset, extractor, [layer], weights_path, inputs.device, feature_batch_size(protocol, inputs.device), _verbose(inputs))
    return dataset, described, features[layer]


@METRICS.register("fid", METRIC_SPECS["fid"])
def fid(inputs: EvalInputs, protocol: Protocol, extractor: str = INCEPTION, network: torch.nn.Module | None = None) -> MetricResult:
    """FID under ``protocol.fid_convention``; ``network`` replaces the gfla-script extractor (tests)."""
    _check_reference(protocol)
    if protocol.fid_convention == "gfla-script":
        from bench.metrics import fid_gfla

        return fid_gfla.fid_gfla(inputs, protocol, network)
    try:
        weights_path = extractor_weights(extractor, inputs.weights_dir)
    except weights.WeightsMissing as err:
        return MetricResult.unavailable(str(err))
    pad, layer = fashion_pad(inputs, protocol, "fid"), feature_layer(extractor, "fid")
    reference = reference_set(inputs, protocol, pad)
    if isinstance(reference, str):
        return MetricResult.unavailable(reference)
    dataset, fingerprint, described = reference
    if len(dataset) < 2 or len(inputs.generated) < 2:
        return MetricResult.unavailable("FID needs at least 2 generated and 2 reference images")

    def compute() -> dict[str, np.ndarray]:
        features = extract_features(dataset, extractor, [layer], weights_path, inputs.device, feature_batch_size(protocol, inputs.device), _verbose(inputs))
        return fid_statistics(features[layer])

    path = cache_dir(inputs) / f"{cache_key(fingerprint, extractor, layer, weights_path, pad)}.npz"
    meta = {"reference": described, "n": len(dataset), "extractor": extractor, "layer": layer, "pad": pad}
    ref_stats, hit = cached_stats(path, compute, meta)
    gen_stats = fid_statistics(generated_features(inputs, protocol, extractor, weights_path, pad)[layer])
    value = frechet_distance(gen_stats, ref_stats)
    return MetricResult(value, details={
        "convention": "torch-fidelity", "reference": protocol.fid_reference, "reference_set": described,
        "n_reference": len(dataset), "n_generated": len(inputs.generated), "extractor": extractor,
        "weights": _str(weights_path), "pad": pad, "geometry": geometry(inputs, protocol).name, "cache": str(path),
        "cache_hit": hit,
    })


# ----------------------------------------------------------------------------- KID


def kid_from_features(generated: torch.Tensor, reference: torch.Tensor, subsets: int = KID_SUBSETS,
                      subset_size: int = KID_SUBSET_SIZE, seed: int = KID_SEED) -> tuple[float, float, int]:
    """(mean, std, subset size used) of torch-fidelity's KID; the subset size shrinks to the smaller set."""
    size = min(subset_size, len(generated), len(reference))
    kid = _fidelity("metric_kid")
    out = kid.kid_features_to_metric(generated, reference, kid_subsets=subsets, kid_subset_size=size, kid_kernel="poly",
                                     kid_kernel_poly_degree=3, kid_kernel_poly_gamma=None, kid_kernel_poly_coef0=1,
                                     rng_seed=seed, verbose=False)
    return out[kid.KEY_METRIC_KID_MEAN], out[kid.KEY_METRIC_KID_STD], size


@METRICS.register("kid", METRIC_SPECS["kid"])
def kid(inputs: EvalInputs, protocol: Protocol, extractor: str = INCEPTION) -> MetricResult:
    _check_reference(protocol)
    try:
        weights_path = extractor_weights(extractor, inputs.weights_dir)
    except weights.WeightsMissing as err:
        return MetricResult.unavailable(str(err))
    pad, layer = fashion_pad(inputs, protocol, "kid"), feature_layer(extractor, "fid")
    if len(inputs.generated) < 2:
        return MetricResult.unavailable("KID needs at least 2 generated and 2 reference images")
    reference = reference_features(inputs, protocol, extractor, weights_path, layer, pad)
    if isinstance(reference, str):
        return MetricResult.unavailable(reference)
    dataset, described, ref_features = reference
    if len(dataset) < 2:
        return MetricResult.unavailable("KID needs at least 2 generated and 2 reference images")
    gen_features = generated_features(inputs, protocol, extractor, weights_path, pad)[layer]
    mean, std, size = kid_from_features(gen_features, ref_features)
    return MetricResult(mean, details={
        "std": std, "subsets": KID_SUBSETS, "subset_size": size, "seed": KID_SEED, "reference": protocol.fid_reference,
        "reference_set": described, "n_reference": len(dataset), "n_generated": len(inputs.generated),
        "extractor": extractor, "weights": _str(weights_path), "pad": pad, "geometry": geometry(inputs, protocol).name,
    })
