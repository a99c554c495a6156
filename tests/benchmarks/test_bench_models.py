"""Generator inference at the published size, batch 1 (PoNA Table II setting; run with --benchmark-only)."""
from __future__ import annotations

import pytest
import torch

from bench.data.layout import KINDS
from bench.models import create_model


@pytest.mark.parametrize("name", ["patn", "pona", "pona-b2"])
@pytest.mark.parametrize("dataset", ["market", "deepfashion"])
def test_bench_generator_forward(benchmark, name, dataset):
    h, w = KINDS[dataset].image_size
    model = create_model(name, dataset).eval()
    batch = {"source": torch.rand(1, 3, h, w) * 2 - 1, "source_pose": torch.rand(1, 18, h, w),
             "target_pose": torch.rand(1, 18, h, w)}
    with torch.inference_mode():
        model(batch)  # warm-up
        out = benchmark.pedantic(model, args=(batch,), rounds=3, iterations=1)
    assert out.shape == (1, 3, h, w)
