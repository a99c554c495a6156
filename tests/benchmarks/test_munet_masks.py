"""mUNet skip masks: forward time of each mask type (and the loop grid mask) at full width.

The paper's Sec. 3 times 1000 test samples of VDG's Stage I: 33.6 ms No-mask, 34.2 mUNet_o,
34.4 mUNet, 189.8 mUNet_g ("because of its loops inside each feature"): its grid mask was
5.5x slower than the model without masks. Two groups here, batch 1 as in the paper:

* ``munet-gates``: the masks alone on every skip feature of VDG Stage I at Market's full
  width ((128, 128x64), (256, 64x32), (384, 32x16), (512, 16x8), (640, 8x4));
* ``munet-stage1``: the whole full-width VDG Stage I forward with each mask.

Run with ``pytest tests/benchmarks/test_munet_masks.py --benchmark-only -s``; each mask's
median time over that of every mask timed before it (identity = No-mask first) is printed
and stored in the benchmark's ``extra_info``.
"""
from __future__ import annotations

import pytest
import torch
from torch import nn

from bench.models import create_model

GATES = ("identity", "munet-o", "munet", "munet-g", "munet-g-loop")
MEDIANS: dict[tuple[str, str], float] = {}


def _record(benchmark, group: str, gate: str) -> None:
    """Keep the median; print and store its ratio to every mask timed before it in the group."""
    MEDIANS[group, gate] = benchmark.stats.stats.median
    ratios = {f"ratio_to_{other}": MEDIANS[group, gate] / t for (g, other), t in MEDIANS.items()
              if g == group and other != gate}
    benchmark.extra_info.update(ratios)
    shown = ", ".join(f"{r:.2f}x {k.removeprefix('ratio_to_')}" for k, r in ratios.items())
    print(f"\n{group} {gate}: median {1000 * MEDIANS[group, gate]:.3f} ms" + (f" ({shown})" if shown else ""))


def _stage_one(gate: str) -> nn.Module:
    torch.manual_seed(0)
    model = create_model("vdg", "market", stage=1, skip_gate=gate).eval()
    stage1 = model.generator.stage1
    for module in stage1.skip_gates:
        if hasattr(module, "weight"):  # a trained-looking mask: about half the weights negative
            with torch.no_grad():
                module.weight.normal_()
    return stage1


@pytest.mark.parametrize("gate", GATES)
def test_bench_masks_on_vdg_skips(benchmark, gate):
    stage1 = _stage_one(gate)
    shapes = stage1.skip_shapes()
    features = [torch.relu(torch.randn(1, c, h, w)) for c, (h, w) in shapes]

    def run() -> list[torch.Tensor]:
        return [g(f) for g, f in zip(stage1.skip_gates, features)]

    with torch.inference_mode():
        run()
        out = benchmark(run)
    assert [o.shape for o in out] == [f.shape for f in features]
    benchmark.group = "munet-gates"
    _record(benchmark, "munet-gates", gate)


@pytest.mark.parametrize("gate", GATES)
def test_bench_vdg_stage_one_with_masks(benchmark, gate):
    stage1 = _stage_one(gate)
    appearance = torch.rand(1, 21, 128, 64) * 2 - 1
    target_pose = torch.rand(1, 18, 128, 64) * 2 - 1
    with torch.inference_mode():
        stage1(appearance, target_pose)  # warm-up
        out = benchmark.pedantic(stage1, args=(appearance, target_pose), rounds=5, iterations=1)
    assert out.shape == (1, 3, 128, 64)
    benchmark.group = "munet-stage1"
    _record(benchmark, "munet-stage1", gate)

