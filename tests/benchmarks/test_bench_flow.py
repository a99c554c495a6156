"""The pure-PyTorch replacements of GFLA's CUDA ops at DeepFashion 256x176 sizes (run with --benchmark-only)."""
from __future__ import annotations

import torch

from baselines.layers.flow import block_extractor, resample2d, sampling_correctness
from bench.models import create_model


def _flow(b: int, h: int, w: int) -> torch.Tensor:
    return (torch.rand(b, 2, h, w, generator=torch.Generator().manual_seed(0)) * 2 - 1) * 3


def test_bench_block_extractor_layer2(benchmark):
    """Source patches of the 1/4-scale attention: 128 channels at 64x44, kernel 5, forward + backward."""
    source = torch.randn(1, 128, 64, 44, requires_grad=True)
    flow = _flow(1, 64, 44).requires_grad_()
    benchmark.pedantic(lambda: block_extractor(source, flow, 5).sum().backward(), rounds=3, iterations=1)


def test_bench_sampling_correctness_relu3_1(benchmark):
    """Correctness loss on relu3_1 (256 channels at 64x44), forward + backward to the flow."""
    source, target = torch.rand(1, 256, 64, 44), torch.rand(1, 256, 64, 44)
    flow = _flow(1, 64, 44).requires_grad_()
    benchmark.pedantic(lambda: sampling_correctness(source, target, flow).backward(), rounds=3, iterations=1)


def test_bench_resample2d_relu4_1(benchmark):
    source = torch.randn(1, 512, 32, 22)
    benchmark.pedantic(resample2d, args=(source, _flow(1, 32, 22)), rounds=3, iterations=1)


def test_bench_gfla_forward(benchmark):
    model = create_model("gfla", "deepfashion", vgg=False).eval()
    batch = {"source": torch.rand(1, 3, 256, 176) * 2 - 1, "source_pose": torch.rand(1, 18, 256, 176),
             "target_pose": torch.rand(1, 18, 256, 176)}
    with torch.inference_mode():
        model(batch)
        out = benchmark.pedantic(model, args=(batch,), rounds=3, iterations=1)
    assert out.shape == (1, 3, 256, 176)
