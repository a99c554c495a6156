"""PG2 masks and pose heatmaps at evaluation / training scale (run with --benchmark-only)."""
from __future__ import annotations

import numpy as np
import torch

from bench.data.annotations import read_annotations
from bench.data.masks import pg2_masks
from bench.data.pose import heatmaps


def _market_test_poses(shared_data, n: int = 12000) -> np.ndarray:
    annotations = read_annotations(shared_data / "market" / "market-annotation-test.csv")
    return np.stack(list(annotations.values()))[:n]


def test_bench_pg2_masks_12000_market(benchmark, shared_data):
    """The 12,000 target masks of a Market test run."""
    poses = _market_test_poses(shared_data)
    masks = benchmark.pedantic(pg2_masks, args=(poses, (128, 64)), rounds=3, iterations=1)
    assert masks.shape == (12000, 128, 64)


def test_bench_heatmaps_batch_deepfashion(benchmark, shared_data):
    """Heatmaps of a training batch of 32 poses at 256x176 (source and target)."""
    poses = torch.from_numpy(_market_test_poses(shared_data, 64) * 2).float().reshape(32, 2, 18, 2)
    maps = benchmark(heatmaps, poses, (256, 176))
    assert maps.shape == (32, 2, 18, 256, 176)
