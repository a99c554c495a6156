"""VDG and VDG without input pose: parameter counts layer by layer, shapes on both datasets,
Stage I / II outputs, the replaceable skip gates, the SSIM part of the enhanced weighting
loss against scikit-image, the two-stage schedule and training steps."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage.metrics import structural_similarity
from torch import nn

from baselines import vdg
from bench.data.keypoints import INDEX
from bench.errors import BenchError
from bench.models import MODELS, count_parameters, create_model
from pair_gan_helpers import SIZES, posed_batch, posed_keypoints

CANVAS = {"market": (128, 64), "deepfashion": (256, 256)}
G_TERMS = {"g1_l1", "g1_mask_l1", "g1_ssim", "gan", "l1", "mask_l1"}
D_TERMS = {"D/real", "D/fake", "D/source"}
SMALL = 1 / 16


# --------------------------------------------------------------------------------------
# Parameter counts, from the layer list written out independently


def _conv(cin: int, cout: int, k: int) -> int:
    return cin * cout * k * k + cout


def _fc(cin: int, cout: int) -> int:
    return cin * cout + cout


def branch_encoder(cin: int, n: int, levels: int, bottleneck: int, z: int = 64) -> int:
    total = _conv(cin, n, 3)
    for i in range(levels):
        total += 2 * _conv(n * (i + 1), n * (i + 1), 3)
        if i < levels - 1:
            total += _conv(n * (i + 1), n * (i + 2), 3)
    return total + _fc(bottleneck * n * levels, z)


def stage_one(image_channels: int, n: int, levels: int, bottleneck: int, z: int = 64) -> int:
    total = branch_encoder(image_channels, n, levels, bottleneck, z) + branch_encoder(18, n, levels, bottleneck, z)
    total += _fc(2 * z, bottleneck * n)  # late fusion of the two vectors
    x = n
    for i in range(levels):
        width = x + n * (levels - i)  # previous + image-branch skip
        total += 2 * _conv(width, width, 3)
        if i < levels - 1:
            x = n * (levels - i - 1)
            total += _conv(width, x, 1)
    return total + _conv(width, 3, 3)


PG2_G2 = {"market": 6_058_883, "deepfashion": 12_696_067}  # tests/models/test_pg2.py
PG2_D = {"market": 4_324_737, "deepfashion": 10_896_257}
EXPECTED = {  # (Stage I, Stage II, D)
    ("vdg", "market"): (94_512_899, 6_058_883, 4_324_737),
    ("vdg-np", "market"): (94_492_163, 6_058_883, 4_324_737),
    ("vdg", "deepfashion"): (162_961_027, 12_696_067, 10_896_257),
    ("vdg-np", "deepfashion"): (162_940_291, 12_696_067, 10_896_257),
}


def _counts(name: str, dataset: str) -> tuple[int, int, int]:
    with torch.device("meta"):
        model = create_model(name, dataset)
    g = model.generator
    return count_parameters(g.stage1), count_parameters(g.stage2), count_parameters(model.discriminators)


def test_expected_counts_follow_from_the_layers():
    for (name, dataset), (s1, s2, d) in EXPECTED.items():
        channels = 21 if name == "vdg" else 3
        levels, bottleneck = (5, 8 * 4) if dataset == "market" else (6, 8 * 8)
        assert s1 == stage_one(channels, 128, levels, bottleneck)
        assert (s2, d) == (PG2_G2[dataset], PG2_D[dataset])


@pytest.mark.parametrize("name", ["vdg", "vdg-np"])
@pytest.mark.parametrize("dataset", ["market", "deepfashion"])
def test_parameter_counts(name, dataset):
    counts = _counts(name, dataset)
    assert counts == EXPECTED[name, dataset]
    assert MODELS.get(name).meta.param_counts[dataset] == counts[0] + counts[1]
    from bench.cli.models import generator_params

    assert generator_params(name, dataset) == counts[0] + counts[1]


def test_registration():
    for name in ("vdg", "vdg-np"):
        entry = MODELS.get(name)
        assert entry.meta.paper == "Lakhal et al., ECCVW 2018"


# --------------------------------------------------------------------------------------
# Shapes, stages, inputs


@pytest.mark.parametrize("name", ["vdg", "vdg-np"])
@pytest.mark.parametrize("dataset", ["market", "deepfashion"])
def test_shapes_and_stage_outputs(name, dataset):
    torch.manual_seed(0)
    size = SIZES[dataset]
    batch = posed_batch(size, n=1)
    model = create_model(name, dataset, width=SMALL, stage=1)
    assert model.canvas == CANVAS[dataset]
    seen = {}
    model.generator.stage1.image_encoder.register_forward_pre_hook(lambda m, a: seen.__setitem__("image", a[0]))
    model.generator.stage1.pose_encoder.register_forward_pre_hook(lambda m, a: seen.__setitem__("pose", a[0]))
    coarse = model(batch)
    assert coarse.shape == (1, 3, *size)
    assert seen["image"].shape == (1, 21 if name == "vdg" else 3, *CANVAS[dataset])
    assert seen["pose"].shape == (1, 18, *CANVAS[dataset])
    terms = model.generator_losses(batch, coarse)
    assert set(terms) == G_TERMS
    assert terms["gan"] == terms["l1"] == terms["mask_l1"] == 0
    assert 0 < terms["g1_mask_l1"] < terms["g1_l1"] and terms["g1_ssim"] > 0
    d_terms = model.discriminator_losses(batch, coarse.detach())
    assert set(d_terms) == D_TERMS and all(v == 0 for v in d_terms.values())

    model.config.stage = 2
    refined = model(batch)
    assert refined.shape == (1, 3, *size)
    # Stage II = Stage I + the difference map of concat(Stage I, source).
    with torch.no_grad():
        c, r = model._generate(batch, refine=True)
    assert torch.allclose(c, coarse.detach(), atol=1e-6) and not torch.allclose(r, c)
    terms = model.generator_losses(batch, refined)
    assert set(terms) == G_TERMS and terms["g1_l1"] == terms["g1_ssim"] == 0 < terms["gan"]
    d_terms = model.discriminator_losses(batch, refined.detach())
    assert set(d_terms) == D_TERMS and all(v > 0 for v in d_terms.values())
    model.eval()
    with torch.no_grad():
        assert model(batch).abs().max() <= 1


def test_input_pose_reaches_only_vdg():
    """VDG's image branch reads the source pose; VDG without input pose ignores it."""
    batch = posed_batch((128, 64), n=1)
    moved = dict(batch, source_keypoints=torch.stack([posed_keypoints((128, 64), 6)]))
    for name, depends in (("vdg", True), ("vdg-np", False)):
        torch.manual_seed(0)
        model = create_model(name, "market", width=SMALL, stage=1).eval()
        with torch.no_grad():
            assert (not torch.equal(model(batch), model(moved))) == depends
    torch.manual_seed(0)
    model = create_model("vdg-np", "market", width=SMALL, stage=1).eval()
    del batch["source_keypoints"]
    model(batch)  # never needs the source keypoints
    with pytest.raises(BenchError, match="source_keypoints"):
        create_model("vdg", "market", width=SMALL)(batch)


def test_deepfashion_canvas_policy():
    torch.manual_seed(0)
    model = create_model("vdg", "deepfashion", width=SMALL, stage=1)
    batch = posed_batch((256, 176), n=1)
    seen = {}
    model.generator.stage1.image_encoder.register_forward_pre_hook(lambda m, a: seen.__setitem__("x", a[0]))
    model(batch)
    x = seen["x"]
    assert torch.equal(x[:, :3, :, 40:216], batch["source"])
    assert torch.equal(x[:, :3, :, :40], batch["source"][..., :1].expand(-1, -1, -1, 40))
    y, kx = (int(v) for v in batch["source_keypoints"][0, INDEX["nose"]])
    assert x[0, 3 + INDEX["nose"], y, kx + 40] == 1 and set(x[0, 3:].unique().tolist()) == {-1.0, 1.0}


# --------------------------------------------------------------------------------------
# Skip gates


class AllPass(nn.Module):
    """A gate that multiplies by a mask of ones: must leave the U-Net output bit for bit."""

    def __init__(self, channels: int, size: tuple[int, int]):
        super().__init__()
        self.shape = (channels, *size)
        self.register_buffer("mask", torch.ones(channels, *size))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert x.shape[1:] == self.shape  # skip_shapes() tells each gate its feature's shape
        return x * self.mask


class Blocked(AllPass):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * 0


@pytest.fixture
def gates(monkeypatch):
    monkeypatch.setitem(vdg.SKIP_GATES, "all-pass", AllPass)
    monkeypatch.setitem(vdg.SKIP_GATES, "blocked", Blocked)


@pytest.mark.parametrize("dataset", ["market", "deepfashion"])
def test_skip_gates_default_to_identity(gates, dataset):
    batch = posed_batch(SIZES[dataset], n=1)
    outputs = {}
    for gate in ("identity", "all-pass", "blocked"):
        torch.manual_seed(0)
        model = create_model("vdg", dataset, width=SMALL, stage=1, skip_gate=gate).eval()
        assert len(model.generator.stage1.skip_gates) == (5 if dataset == "market" else 6)
        with torch.no_grad():
            outputs[gate] = model(batch)
    default = create_model("vdg", dataset, width=SMALL)
    assert all(isinstance(g, nn.Identity) for g in default.generator.stage1.skip_gates)
    assert torch.equal(outputs["identity"], outputs["all-pass"])
    assert not torch.allclose(outputs["identity"], outputs["blocked"])  # the gates sit on the path


def test_skip_shapes_market():
    with torch.device("meta"):
        model = create_model("vdg", "market")  # full width: the paper's 128x64x128 first block
    shapes = model.generator.stage1.skip_shapes()
    assert shapes == [(128, (128, 64)), (256, (64, 32)), (384, (32, 16)), (512, (16, 8)), (640, (8, 4))]


# --------------------------------------------------------------------------------------
# The enhanced weighting loss


def test_ssim_map_matches_scikit_image():
    g = torch.Generator().manual_seed(1)
    x = torch.rand(1, 3, 40, 30, generator=g, dtype=torch.float64) * 2 - 1
    y = (x + 0.3 * torch.randn(1, 3, 40, 30, generator=g, dtype=torch.float64)).clamp(-1, 1)
    ours = vdg.ssim_map(x, y)
    assert ours.shape == (1, 3, 30, 20)
    reference = structural_similarity(x[0].numpy(), y[0].numpy(), channel_axis=0, data_range=2.0,
                                      gaussian_weights=True, sigma=1.5, use_sample_covariance=False)
    assert ours.mean().item() == pytest.approx(reference, abs=1e-10)
    assert torch.allclose(vdg.ssim_map(x, x), torch.ones_like(ours))


def test_weighted_ssim_loss_doubles_the_weight_inside_the_mask():
    g = torch.Generator().manual_seed(2)
    x = torch.rand(1, 3, 30, 30, generator=g, dtype=torch.float64) * 2 - 1
    y = torch.rand(1, 3, 30, 30, generator=g, dtype=torch.float64) * 2 - 1
    mask = torch.zeros(1, 1, 30, 30, dtype=torch.float64)
    mask[..., :15, :] = 1
    dissimilarity = 1 - vdg.ssim_map(x, y)  # valid rows 5..24: rows 5..14 masked
    expected = (2 * dissimilarity[..., :10, :].sum() + dissimilarity[..., 10:, :].sum()) / dissimilarity.numel()
    assert vdg.weighted_ssim_loss(x, y, mask).item() == pytest.approx(expected.item(), rel=1e-12)
    assert vdg.weighted_ssim_loss(x, x, mask).item() == pytest.approx(0, abs=1e-12)


def test_stage_one_loss_is_pg2s_plus_the_ssim_term():
    torch.manual_seed(0)
    batch = posed_batch((128, 64), n=2)
    model = create_model("vdg", "market", width=SMALL, stage=1, ssim_weight=0.5)
    fake = model(batch)
    terms = model.generator_losses(batch, fake)
    mask = model.target_mask(batch)
    error = (fake - batch["target"]).abs()
    assert torch.allclose(terms["g1_l1"] + terms["g1_mask_l1"], (error * (1 + mask)).mean())
    assert torch.allclose(terms["g1_ssim"], 0.5 * vdg.weighted_ssim_loss(fake, batch["target"], mask))


# --------------------------------------------------------------------------------------
# Schedule and training


def test_schedule_switches_to_stage_two_and_freezes_stage_one():
    torch.manual_seed(0)
    model = create_model("vdg-np", "market", width=SMALL, g1_steps=2)
    batch = posed_batch((128, 64), n=1)
    optimizer = torch.optim.Adam(model.generator.parameters(), lr=1e-3, betas=(0.5, 0.999))
    stages = []
    for _ in range(4):
        fake = model(batch)
        g_terms = model.generator_losses(batch, fake)
        stages.append(2 if g_terms["gan"] > 0 else 1)
        optimizer.zero_grad(set_to_none=True)
        sum(g_terms.values()).backward()
        frozen = model.generator.stage1 if stages[-1] == 2 else model.generator.stage2
        assert all(p.grad is None for p in frozen.parameters())
        optimizer.step()
    assert stages == [1, 1, 2, 2]
    assert int(model.state_dict()["steps"]) == 4  # the schedule survives a checkpoint


def _fit(model, batch, steps: int) -> list[float]:
    optimizer = torch.optim.Adam(model.generator.parameters(), lr=1e-3, betas=(0.5, 0.999))
    history = []
    for _ in range(steps):
        terms = model.generator_losses(batch, model(batch))
        optimizer.zero_grad(set_to_none=True)
        total = sum(terms.values()) - terms["gan"]  # the stage's reconstruction terms
        sum(terms.values()).backward()
        optimizer.step()
        history.append(total.item())
    return history


@pytest.mark.parametrize("name", ["vdg", "vdg-np"])
def test_training_steps_reduce_the_losses(name):
    torch.manual_seed(0)
    batch = posed_batch((128, 64), n=1)
    model = create_model(name, "market", width=SMALL, stage=1)
    history = _fit(model, batch, 10)
    assert history[-1] < 0.7 * history[0], history

    model.config.stage = 2  # continue from the trained Stage I
    before = [p.detach().clone() for p in model.generator.stage1.parameters()]
    history = _fit(model, batch, 6)
    assert history[-1] < history[0], history
    assert all(torch.equal(a, b) for a, b in zip(before, model.generator.stage1.parameters()))


def test_bad_configuration():
    with pytest.raises(BenchError, match="skip_gate"):
        create_model("vdg", "market", width=SMALL, skip_gate="dense")
    with pytest.raises(BenchError, match="stage"):
        create_model("vdg", "market", width=SMALL, stage=3)
    with pytest.raises(BenchError, match="divisible"):
        create_model("vdg", "deepfashion", width=SMALL, canvas=(256, 176))
    with pytest.raises(BenchError, match="vdg-np"):
        create_model("vdg", "market", width=SMALL, input_pose=False)
    with pytest.raises(BenchError, match="unknown VDGConfig option"):
        create_model("vdg", "market", perceptual=False)
    assert np.isfinite(create_model("vdg", "market", width=SMALL).metadata()["config"]["ssim_weight"])
