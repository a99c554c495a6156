"""Train the heatmap pose estimator on a dataset's training images and annotations.

CPU-friendly: random mini-batches are read from disk as needed and kept decoded up
to 1 GiB (all of Market; DeepFashion partly), with horizontal flips (left/right
keypoints swapped).
The checkpoint is written atomically and records what produced it.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from bench.data.annotations import read_annotations
from bench.data.keypoints import FLIP_PERMUTATION, MISSING
from bench.data.layout import DatasetLayout
from bench.errors import DataError
from bench.io import atomic_path, provenance
from bench.pose_estimator.heatmap import (
    CHECKPOINT_FORMAT,
    HeatmapConfig,
    HeatmapEstimator,
    HeatmapNet,
    config_dict,
    file_digest,
    render_targets,
    to_tensor,
)


@dataclass(frozen=True)
class PoseTrainConfig:
    steps: int = 600
    batch_size: int = 16
    lr: float = 2e-3
    seed: int = 0
    width: int = 32
    flip: bool = True


CACHE_BYTES = 1 << 30  # keep up to 1 GiB of decoded images (all of Market's training set)


@dataclass
class TrainingSet:
    paths: list[Path]
    keypoints: np.ndarray  # (N, 18, 2) int (y, x)
    image_size: tuple[int, int]
    cache: dict[int, np.ndarray] = field(default_factory=dict)

    def image(self, i: int) -> np.ndarray:
        from bench.data.images import load_image

        if i in self.cache:
            return self.cache[i]
        image = load_image(self.paths[i], self.image_size)
        if (len(self.cache) + 1) * image.nbytes <= CACHE_BYTES:  # JPEG decoding costs as much as a step
            self.cache[i] = image
        return image

    def batch(self, index: np.ndarray, flip: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        images = np.stack([self.image(i) for i in index])
        return flip_horizontally(images, self.keypoints[index], flip)


def flip_horizontally(images: np.ndarray, keypoints: np.ndarray, flip: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mirror the images where ``flip``; keypoints get x -> W-1-x and their left/right partner's slot."""
    images, keypoints = images.copy(), keypoints.copy()
    width = images.shape[2]
    for i in np.flatnonzero(flip):
        images[i] = images[i, :, ::-1]
        kp = keypoints[i, list(FLIP_PERMUTATION)]
        present = kp[:, 0] != MISSING
        kp[present, 1] = width - 1 - kp[present, 1]
        keypoints[i] = kp
    return images, keypoints


def training_set(layout: DatasetLayout) -> TrainingSet:
    """Every training image that has an annotation row (images without keypoints teach absence)."""
    size = layout.kind.image_size
    annotations = read_annotations(layout.annotations("train"), image_size=size)
    folder = layout.images("train")
    names = [n for n in annotations if (folder / n).is_file()]
    if not names:
        raise DataError(folder, f"no training images found for the {len(annotations)} rows of {layout.annotations('train').name}")
    return TrainingSet([folder / n for n in names], np.stack([annotations[n] for n in names]), size)


def focal_loss(logits: torch.Tensor, targets: torch.Tensor, alpha: float = 2.0, beta: float = 4.0) -> torch.Tensor:
    """CornerNet/CenterNet penalty-reduced focal loss on sigmoid heatmaps.

    Plain MSE regression spends hundreds of steps learning "everything is 0" (1 peak
    cell in ~500); the focal loss weights the peak cell and down-weights easy
    background, so a few hundred CPU steps give usable heatmaps. Each present
    keypoint's target peaks at exactly 1 in one cell (``peak_normalised``).
    """
    log_p, log_not_p = F.logsigmoid(logits), F.logsigmoid(-logits)
    p = log_p.exp()
    positive = targets >= 1.0
    pos_term = ((1 - p) ** alpha * log_p)[positive].sum()
    neg_term = ((1 - targets) ** beta * p**alpha * log_not_p)[~positive].sum()
    return -(pos_term + neg_term) / positive.sum().clamp_min(1)


def peak_normalised(heatmaps: torch.Tensor) -> torch.Tensor:
    """Scale each non-empty channel so its maximum cell is exactly 1."""
    peak = heatmaps.flatten(2).max(dim=-1).values[..., None, None]
    return torch.where(peak > 0, heatmaps / peak.clamp_min(1e-12), heatmaps)


def train_step(net: HeatmapNet, optimizer: torch.optim.Optimizer, images: np.ndarray, keypoints: np.ndarray, sigma: float) -> float:
    targets = peak_normalised(render_targets(keypoints, images.shape[1:3], sigma))
    loss = focal_loss(net(to_tensor(images)), targets)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return float(loss.detach())


def fit(net: HeatmapNet, data: TrainingSet, config: PoseTrainConfig, sigma: float, progress: bool = False) -> list[float]:
    """Adam with a cosine learning-rate decay; returns the loss of every step."""
    rng = np.random.default_rng(config.seed)
    optimizer = torch.optim.Adam(net.parameters(), lr=config.lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(config.steps, 1))
    losses = []
    net.train()
    for _ in _steps(config.steps, progress):
        index = rng.integers(0, len(data.paths), size=config.batch_size)
        flip = rng.random(config.batch_size) < 0.5 if config.flip else np.zeros(config.batch_size, bool)
        losses.append(train_step(net, optimizer, *data.batch(index, flip), sigma))
        schedule.step()
    net.eval()
    return losses


def _steps(n: int, progress: bool):
    if not progress:
        return range(n)
    from tqdm import tqdm

    return tqdm(range(n), desc="pose train", unit="step", dynamic_ncols=True)


def save_checkpoint(path: Path, net: HeatmapNet, config: HeatmapConfig, meta: dict[str, Any]) -> None:
    checkpoint = {"format": CHECKPOINT_FORMAT, "state_dict": net.state_dict(), "config": config_dict(config), "provenance": meta}
    with atomic_path(path) as tmp:
        torch.save(checkpoint, tmp)


def train_heatmap_estimator(
    dataset: str | Path, out: str | Path, config: PoseTrainConfig = PoseTrainConfig(), progress: bool = False
) -> HeatmapEstimator:
    """Train on ``dataset``'s training split, write the checkpoint to ``out``, return the estimator."""
    torch.manual_seed(config.seed)
    layout = DatasetLayout.open(dataset)
    data = training_set(layout)
    model_config = HeatmapConfig(image_size=layout.kind.image_size, width=config.width)
    net = HeatmapNet(model_config.width)
    losses = fit(net, data, config, model_config.sigma, progress)
    meta = provenance(
        dataset=str(Path(dataset).resolve()),
        dataset_kind=layout.kind.name,
        annotations_sha256=file_digest(layout.annotations("train")),
        training_images=len(data.paths),
        train=asdict(config),
        first_loss=losses[0] if losses else None,
        final_loss=float(np.mean(losses[-10:])) if losses else None,
        device="cpu",
    )
    save_checkpoint(Path(out), net, model_config, meta)
    return HeatmapEstimator.load(out)
