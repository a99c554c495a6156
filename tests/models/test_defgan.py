"""Def-GAN: published parameter counts, shapes on both datasets, resolution policy, training steps."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from bench.data.keypoints import INDEX, MISSING
from bench.data.pose import heatmaps
from bench.errors import BenchError
from bench.models import count_parameters, create_model

POSE = dict(  # (y, x) on a 128x64 frame
    nose=(15, 32), r_eye=(12, 30), l_eye=(12, 34),
    r_shoulder=(30, 22), l_shoulder=(30, 42), r_hip=(70, 24), l_hip=(70, 40),
    r_knee=(95, 24), l_knee=(95, 40), r_ankle=(120, 24), l_ankle=(120, 40),
    r_elbow=(50, 16), l_elbow=(50, 48), r_wrist=(65, 14), l_wrist=(65, 50),
)


def _keypoints(size: tuple[int, int], shift: float) -> torch.Tensor:
    kp = torch.full((18, 2), float(MISSING))
    sy, sx = size[0] / 128, size[1] / 64
    for name, (y, x) in POSE.items():
        kp[INDEX[name]] = torch.tensor([y * sy, x * sx + shift])
    return kp


def _batch(size: tuple[int, int], n: int = 2, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)

    def smooth_image() -> torch.Tensor:  # low-frequency images a few steps can fit
        coarse = torch.rand(n, 3, 4, 2, generator=g) * 2 - 1
        return torch.nn.functional.interpolate(coarse, size=size, mode="bilinear", align_corners=False)

    src_kp = torch.stack([_keypoints(size, 0.0) for _ in range(n)])
    tgt_kp = torch.stack([_keypoints(size, 3.0 * (i + 1)) for i in range(n)])
    return {
        "source": smooth_image(),
        "target": smooth_image(),
        "source_pose": heatmaps(src_kp, size),
        "target_pose": heatmaps(tgt_kp, size),
        "source_keypoints": src_kp,
        "target_keypoints": tgt_kp,
        "from": [f"a{i}.jpg" for i in range(n)],
        "to": [f"b{i}.jpg" for i in range(n)],
    }


def test_published_parameter_counts():
    market = create_model("def-gan", "market")
    fashion = create_model("def-gan", "deepfashion")
    assert count_parameters(market.generator) == 61_109_085
    assert count_parameters(fashion.generator) == 82_080_611  # the published 82.08M
    assert count_parameters(market.discriminators) == count_parameters(fashion.discriminators) == 2_803_782
    narrow = create_model("def-gan", "deepfashion", canvas=(256, 192))
    assert count_parameters(narrow.generator) == 82_080_611


@pytest.mark.parametrize(
    "dataset, size, patches",
    [("market", (128, 64), (3, 1)), ("deepfashion", (256, 176), (7, 5))],
)
def test_shapes(dataset, size, patches):
    torch.manual_seed(0)
    model = create_model("def-gan", dataset, width=1 / 16, reconstruction="l1")
    batch = _batch(size)
    fake = model(batch)
    assert fake.shape == (2, 3, *size)
    assert fake.abs().max() <= 1
    d_out = model.discriminators["D"](model._condition(batch, fake))
    assert d_out.shape == (2, 1, *patches)
    losses = model.generator_losses(batch, fake)
    assert set(losses) == {"gan", "l1"}
    assert set(model.discriminator_losses(batch, fake)) == {"D/real", "D/fake"}
    expected_depth = 6 if dataset == "market" else 7
    assert len(model.generator.appearance.levels) == expected_depth


def test_deepfashion_canvas_pads_and_crops():
    model = create_model("def-gan", "deepfashion", width=1 / 16, reconstruction="none")
    batch = _batch((256, 176), n=1)
    (source, source_pose, target_pose, transforms, masks), pads = model._canvas_inputs(batch)
    assert pads == (40, 40) and source.shape[-2:] == (256, 256) and masks.shape == (1, 10, 256, 256)
    torch.testing.assert_close(source[..., 40:216], batch["source"])
    torch.testing.assert_close(source[..., :40], batch["source"][..., :1].expand(-1, -1, -1, 40))
    # Heatmaps recomputed on the canvas equal the data's heatmaps in the original columns.
    torch.testing.assert_close(target_pose[..., 40:216], batch["target_pose"], atol=1e-6, rtol=0)
    # Transforms are computed in canvas coordinates: the target is the source moved 3 px right.
    np.testing.assert_allclose(transforms[0, 0].numpy(), [[1, 0, -3], [0, 1, 0], [0, 0, 1]], atol=1e-9)


def test_bad_input_sizes_raise_clear_errors():
    model = create_model("def-gan", "market", width=1 / 16, reconstruction="none")
    with pytest.raises(BenchError, match="canvas"):
        model(_batch((96, 64), n=1))
    deep = create_model("def-gan", "deepfashion", width=1 / 16, reconstruction="none", canvas=(256, 176))
    with pytest.raises(BenchError, match="divisible by 64"):
        deep(_batch((256, 176), n=1))
    with pytest.raises(BenchError, match="reconstruction"):
        create_model("def-gan", "market", reconstruction="vgg")


class _TinyFeatures(nn.Module):
    """A fixed random conv standing in for VGG19 in the NN-loss path (weights are not available here)."""

    def __init__(self, layer: str):
        super().__init__()
        self.layer = layer
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {self.layer: torch.relu(self.conv(x))}


def _train_steps(model, batch, steps: int, lr: float = 1e-3) -> tuple[dict, dict]:
    g_opt = torch.optim.Adam(model.generator.parameters(), lr=lr, betas=(0.5, 0.999))
    d_opt = torch.optim.Adam(model.discriminators.parameters(), lr=lr, betas=(0.5, 0.999))
    model.train()
    first = last = None
    for _ in range(steps):
        fake = model(batch)
        losses = model.generator_losses(batch, fake)
        g_opt.zero_grad()
        sum(losses.values()).backward()
        g_opt.step()
        d_losses = model.discriminator_losses(batch, fake.detach())
        d_opt.zero_grad()
        sum(d_losses.values()).backward()
        d_opt.step()
        values = {k: float(v.detach()) for k, v in losses.items()}
        first = first or values
        last = values
    return first, last


@pytest.mark.slow  # ~15-40 s on 2 shared cores
def test_training_steps_reduce_the_nn_loss():
    torch.manual_seed(0)
    # The NN term at its paper weight (0.01) is dwarfed by the GAN term over a few steps;
    # weight it up so the test checks that its gradient reaches the generator.
    model = create_model("def-gan", "market", width=1 / 32, lambda_nn=1.0, lambda_gan=0.01)
    model.loss_modules["vgg"] = _TinyFeatures(model.config.nn_layer)  # what prepare_losses would load
    first, last = _train_steps(model, _batch((128, 64), n=1), 10)
    assert set(first) == {"gan", "nn"}
    assert last["nn"] < 0.8 * first["nn"]
    meta = model.metadata()
    assert meta["generator_loss_terms"] == ["gan", "nn"] and "3x3 window" in meta["reconstruction"]
    assert "5x5 window" in create_model("def-gan", "deepfashion", width=1 / 16).metadata()["reconstruction"]


@pytest.mark.slow  # ~15-35 s on 2 shared cores
def test_l1_variant_trains_without_vgg_and_is_recorded():
    torch.manual_seed(0)
    model = create_model("def-gan", "market", width=1 / 32, reconstruction="l1")
    model.prepare_losses()
    assert "vgg" not in model.loss_modules
    first, last = _train_steps(model, _batch((128, 64), n=1), 10)
    assert last["l1"] < 0.8 * first["l1"]
    assert model.metadata()["reconstruction"].startswith("pixel L1 x100")
    assert create_model("def-gan", "deepfashion", reconstruction="none", width=1 / 16).metadata()["canvas"] == [256, 256]
