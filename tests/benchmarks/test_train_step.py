"""Speed of one training iteration (G step + D steps) at the `cpu` profile's size.

Run on demand: pytest tests/benchmarks/test_train_step.py --benchmark-enable
"""
from __future__ import annotations

import pytest
import torch

from bench.models import create_model
from bench.train.config import TrainConfig
from bench.train.trainer import Trainer


class _NoData(torch.utils.data.Dataset):
    def __len__(self) -> int:
        return 1


def _batch(n: int, h: int = 128, w: int = 64) -> dict:
    g = torch.Generator().manual_seed(0)
    return {
        "source": torch.rand(n, 3, h, w, generator=g) * 2 - 1, "target": torch.rand(n, 3, h, w, generator=g) * 2 - 1,
        "source_pose": torch.rand(n, 18, h, w, generator=g), "target_pose": torch.rand(n, 18, h, w, generator=g),
    }


@pytest.mark.parametrize("model", ["patn", "pona"])
def test_cpu_profile_iteration(benchmark, model):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the cpu profile (threads: 1)
    torch.manual_seed(0)
    net = create_model(model, "market", width=0.125, perceptual=False)
    trainer = Trainer(net, _NoData(), TrainConfig(iterations=10**6, niter=10**6, batch_size=4, device="cpu"), progress=False)
    batch = _batch(4)
    trainer.train_step(batch)  # warm-up
    try:
        benchmark(trainer.train_step, batch)
    finally:
        torch.set_num_threads(threads)
