"""Small fixtures shared by the pair-GAN model tests: random batches and a short training run."""
from __future__ import annotations

import torch

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
