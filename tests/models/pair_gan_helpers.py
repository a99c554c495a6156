"""Small fixtures shared by the pair-GAN model tests: random and posed batches, a short training run."""
from __future__ import annotations

import torch

from bench.data.keypoints import INDEX, MISSING
from bench.data.pose import heatmaps

SIZES = {"market": (128, 64), "deepfashion": (256, 176)}


def random_batch(batch: int = 2, size: tuple[int, int] = (32, 16), seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    h, w = size
    return {
        "source": torch.rand(batch, 3, h, w, generator=g) * 2 - 1,
        "source_pose": torch.rand(batch, 18, h, w, generator=g),
        "target": torch.rand(batch, 3, h, w, generator=g) * 2 - 1,
        "target_pose": torch.rand(batch, 18, h, w, generator=g),
    }


POSE = dict(  # (y, x) on a 128x64 frame
    nose=(15, 32), neck=(28, 32), r_eye=(12, 30), l_eye=(12, 34),
    r_shoulder=(30, 22), l_shoulder=(30, 42), r_hip=(70, 24), l_hip=(70, 40),
    r_knee=(95, 24), l_knee=(95, 40), r_ankle=(120, 24), l_ankle=(120, 40),
    r_elbow=(50, 16), l_elbow=(50, 48), r_wrist=(65, 14), l_wrist=(65, 50),
)


def posed_keypoints(size: tuple[int, int], shift: int) -> torch.Tensor:
    """POSE scaled to ``size`` and moved ``shift`` px to the right; the other keypoints missing."""
    kp = torch.full((18, 2), float(MISSING))
    sy, sx = size[0] // 128, size[1] / 64
    for name, (y, x) in POSE.items():
        kp[INDEX[name]] = torch.tensor([y * sy, int(x * sx) + shift], dtype=torch.float32)
    return kp


def posed_batch(size: tuple[int, int], n: int = 2, seed: int = 0, pose_maps: bool = False) -> dict:
    """Smooth images with real keypoints (target i shifted by 2(i+1) px); ``pose_maps`` adds their heatmaps."""
    g = torch.Generator().manual_seed(seed)

    def smooth_image() -> torch.Tensor:  # low-frequency images a few steps can fit
        coarse = torch.rand(n, 3, 4, 2, generator=g) * 2 - 1
        return torch.nn.functional.interpolate(coarse, size=size, mode="bilinear", align_corners=False)

    src = torch.stack([posed_keypoints(size, 0) for _ in range(n)])
    tgt = torch.stack([posed_keypoints(size, 2 * (i + 1)) for i in range(n)])
    batch = {"source": smooth_image(), "target": smooth_image(), "source_keypoints": src, "target_keypoints": tgt,
             "from": [f"a{i}.jpg" for i in range(n)], "to": [f"b{i}.jpg" for i in range(n)]}
    if pose_maps:
        batch.update(source_pose=heatmaps(src, size), target_pose=heatmaps(tgt, size))
    return batch


def generator_loss(model, batch) -> torch.Tensor:
    return sum(model.generator_losses(batch, model(batch)).values())


def train_generator(model, batch, steps: int = 12, lr: float = 1e-3, betas: tuple[float, float] = (0.5, 0.999),
                    seed: int | None = 0) -> list[float]:
    """Adam steps on the generator's total loss (discriminators fixed); the loss after each step.

    ``seed`` reseeds torch first; None keeps the caller's random state.
    """
    if seed is not None:
        torch.manual_seed(seed)
    optimizer = torch.optim.Adam(model.generator.parameters(), lr=lr, betas=betas)
    history = []
    for _ in range(steps):
        loss = generator_loss(model, batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        history.append(loss.item())
    return history


def train_discriminators(model, batch, steps: int = 8, lr: float = 1e-3) -> list[float]:
    torch.manual_seed(0)
    with torch.no_grad():
        fake = model(batch)
    optimizer = torch.optim.Adam(model.discriminators.parameters(), lr=lr, betas=(0.5, 0.999))
    history = []
    for _ in range(steps):
        loss = sum(model.discriminator_losses(batch, fake).values())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        history.append(loss.item())
    return history
