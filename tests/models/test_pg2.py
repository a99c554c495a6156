"""PG2: parameter counts from the original layer definitions, the 437.09 M figure, disk poses,
the training mask, shapes on both datasets, the two-stage schedule and training steps."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage.morphology import dilation, erosion

from baselines.pg2 import SameConv2d, disk_pose, pose_masks
from bench.data.annotations import read_annotations
from bench.data.keypoints import INDEX, MASK_LIMBS, MISSING
from bench.errors import BenchError
from bench.models import MODELS, count_parameters, create_model
from pair_gan_helpers import posed_batch

SIZES = {"market": (128, 64), "deepfashion": (256, 176)}
G_TERMS = {"g1_l1", "g1_mask_l1", "gan", "l1", "mask_l1"}
D_TERMS = {"D/real", "D/fake", "D/source"}


# --------------------------------------------------------------------------------------
# Parameter counts


def _conv(cin: int, cout: int, k: int) -> int:
    return cin * cout * k * k + cout


def _fc(cin: int, cout: int) -> int:
    return cin * cout + cout


def original_g1(n: int, levels: int, bottleneck: int, z: int = 64) -> int:
    """GeneratorCNN_Pose_UAEAfterResidual[_256], layer by layer (input: 3 + 18 channels)."""
    total = _conv(21, n, 3)
    for i in range(levels):
        total += 2 * _conv(n * (i + 1), n * (i + 1), 3)
        if i < levels - 1:
            total += _conv(n * (i + 1), n * (i + 2), 3)
    total += _fc(bottleneck * n * levels, z) + _fc(z, bottleneck * n)
    x = n
    for i in range(levels):
        width = x + n * (levels - i)
        total += 2 * _conv(width, width, 3)
        if i < levels - 1:
            x = n * (levels - i - 1)
            total += _conv(width, x, 1)
    return total + _conv(width, 3, 3)


def original_g2(n: int, levels: int, top_skip: bool) -> int:
    """UAE_noFC_After2Noise (top_skip=False) / UAE_noFC_AfterNoise (True), noise_dim=0."""
    total = _conv(6, n, 3)
    for i in range(levels):
        total += _conv(n * max(i, 1), n * (i + 1), 3) + _conv(n * (i + 1), n * (i + 1), 3)
        if i < levels - 1:
            total += _conv(n * (i + 1), n * (i + 1), 3)
    x = n * levels
    for i in range(levels):
        level = levels - 1 - i
        skip = n * (level + 1) if (top_skip or level > 0) else 0
        total += _conv(x + skip, n, 3) + _conv(n, n, 3)
        x = n
    return total + _conv(n, 3, 3)


def original_d(dim: int, n_down: int, flat: int) -> int:
    """DCGANDiscriminator (4 convs) / DCGANDiscriminator_256 (5): convs with bias, BN offset+scale."""
    channels = [dim, 2 * dim, 4 * dim, 8 * dim, 8 * dim][:n_down]
    total = _conv(3, channels[0], 5)
    for cin, cout in zip(channels, channels[1:]):
        total += _conv(cin, cout, 5) + 2 * cout
    return total + _fc(channels[-1] * flat, 1)


EXPECTED = {  # (G1, G2, D)
    "market": (70_795_075, 6_058_883, 4_324_737),
    "deepfashion": (122_103_235, 12_696_067, 10_896_257),
}


def _counts(dataset: str) -> tuple[int, int, int]:
    with torch.device("meta"):
        model = create_model("pg2", dataset)
    g = model.generator
    return count_parameters(g.g1), count_parameters(g.g2), count_parameters(model.discriminators)


def test_expected_counts_follow_from_the_original_layers():
    assert EXPECTED["market"] == (original_g1(128, 5, 8 * 4), original_g2(128, 3, False), original_d(64, 4, 8 * 4))
    assert EXPECTED["deepfashion"] == (original_g1(128, 6, 8 * 8), original_g2(128, 4, True), original_d(64, 5, 8 * 8))


@pytest.mark.parametrize("dataset", ["market", "deepfashion"])
def test_parameter_counts(dataset):
    g1, g2, d = _counts(dataset)
    assert (g1, g2, d) == EXPECTED[dataset]
    # models.md section 5 (computed from the TF code): G1 70.80/122.10, G2 6.06/12.70, D 4.32/10.90 M.
    published = {"market": (70.80, 6.06, 76.85, 4.32), "deepfashion": (122.10, 12.70, 134.80, 10.90)}[dataset]
    assert tuple(round(v / 1e6, 2) for v in (g1, g2, g1 + g2, d)) == published


def test_published_437_09_is_three_times_all_weights_at_256():
    g1, g2, d = _counts("deepfashion")  # built on the 256x256 canvas: the original DeepFashion net
    assert round(3 * (g1 + g2 + d) / 1e6, 2) == 437.09
    assert round((g1 + g2 + d) / 1e6, 2) != 437.09  # the weights alone are a third of it
    assert round(3 * sum(_counts("market")) / 1e6, 2) != 437.09


def test_bench_models_reports_the_counts_at_each_dataset_size():
    from bench.cli.models import generator_params

    for dataset, (g1, g2, _) in EXPECTED.items():
        assert generator_params("pg2", dataset) == g1 + g2 == MODELS.get("pg2").meta.param_counts[dataset]


# --------------------------------------------------------------------------------------
# Pose input and mask


DISK_AT_5_3 = """
.........
...#.....
.#####...
#######..
#######..
########.
#######..
#######..
.#####...
...#.....
.........
"""


def test_disk_pose_matches_hand_drawn_disk():
    expected = np.array([[c == "#" for c in row] for row in DISK_AT_5_3.split()])
    kp = torch.full((18, 2), float(MISSING))
    kp[0] = torch.tensor([5.0, 3.0])
    kp[1] = torch.tensor([5.7, 3.9])  # int() truncates, as _getSparseKeypoint
    maps = disk_pose(kp, (11, 9))
    assert maps.shape == (18, 11, 9)
    assert np.array_equal(maps[0].numpy().astype(bool), expected)
    assert np.array_equal(maps[1].numpy().astype(bool), expected)
    assert maps[2:].sum() == 0  # missing keypoints: empty channels (-1 after the model's *2-1)
    assert int(disk_pose(torch.tensor([[[20.0, 20.0]] * 18]), (40, 40))[0, 0].sum()) == 49  # i^2+j^2 <= 16


def reference_mask(keypoints: np.ndarray, size: tuple[int, int], radius: int = 4) -> np.ndarray:
    """_getPoseMask written out pixel by pixel, closed with scikit-image's own dilation/erosion."""
    height, width = size
    dense = np.zeros(size)
    for a, b in MASK_LIMBS:
        (r0, c0), (r1, c1) = (int(v) for v in keypoints[a]), (int(v) for v in keypoints[b])
        if MISSING in (r0, c0, r1, c1):
            continue
        points = [(r0, c0), (r1, c1)]
        n = int(np.sqrt((r0 - r1) ** 2 + (c0 - c1) ** 2) / radius)
        points += [(r0 + (r1 - r0) * i / n, c0 + (c1 - c0) * i / n) for i in range(1, n)]
        for r, c in points:
            r, c = int(r), int(c)
            for i in range(-radius, radius + 1):
                for j in range(-radius, radius + 1):
                    if 0 <= r + i < height and 0 <= c + j < width and np.sqrt(i * i + j * j) <= radius:
                        dense[r + i, c + j] = 1
    square = np.ones((5, 5), dtype=bool)
    return erosion(dilation(dense, square), square).astype(bool)


def test_pose_mask_simple_cases():
    kp = np.full((1, 18, 2), MISSING)
    kp[0, INDEX["nose"]] = (10, 10)
    assert not pose_masks(kp, (40, 30)).any()  # a joint only enters through a drawn limb
    kp[0, INDEX["neck"]] = (30, 10)  # limb (neck, nose): 20 px -> 5 samples, centres every 4 px
    mask = pose_masks(kp, (40, 30))[0]
    assert np.array_equal(mask, reference_mask(kp[0], (40, 30)))
    assert mask[10:31, 10].all() and mask[6, 10] and mask[34, 10] and not mask[35, 10]
    assert mask[20, 6] and mask[20, 14] and not mask[20, 5] and not mask[20, 15]


def test_pose_mask_on_real_market_poses(shared_data):
    annotations = read_annotations(shared_data / "market" / "market-annotation-test.csv")
    complete = [n for n in sorted(annotations) if (annotations[n] != MISSING).all(-1).sum() >= 10]
    poses = np.stack([annotations[n] for n in complete[::100][:25]])
    masks = pose_masks(poses, (128, 64))
    for pose, mask in zip(poses, masks):
        assert np.array_equal(mask, reference_mask(pose, (128, 64)))
    assert masks.any(axis=(1, 2)).all()


def test_same_conv_pads_like_tensorflow():
    conv = SameConv2d(1, 1, 3, stride=2)
    x = torch.randn(1, 1, 8, 6)
    # TF SAME, stride 2, even size: no padding before, one row/column after.
    expected = torch.nn.functional.conv2d(torch.nn.functional.pad(x, (0, 1, 0, 1)), conv.weight, conv.bias, 2)
    assert torch.allclose(conv(x), expected)
    assert conv(torch.randn(1, 1, 7, 5)).shape[-2:] == (4, 3)
    assert SameConv2d(1, 1, 5, stride=2)(torch.randn(1, 1, 128, 64)).shape[-2:] == (64, 32)


# --------------------------------------------------------------------------------------
# The model at small width


@pytest.mark.parametrize("dataset", ["market", "deepfashion"])
def test_shapes_and_loss_terms(dataset):
    torch.manual_seed(0)
    size = SIZES[dataset]
    batch = posed_batch(size, n=1)
    n = len(batch["source"])
    model = create_model("pg2", dataset, width=1 / 32, stage=2)
    fake = model(batch)
    assert fake.shape == (n, 3, *size)
    g_terms = model.generator_losses(batch, fake)
    assert set(g_terms) == G_TERMS
    assert g_terms["g1_l1"] == g_terms["g1_mask_l1"] == 0 < g_terms["gan"]
    d_terms = model.discriminator_losses(batch, fake)
    assert set(d_terms) == D_TERMS and all(v > 0 for v in d_terms.values())
    canvas = (128, 64) if dataset == "market" else (256, 256)
    assert model.canvas == canvas
    assert model.discriminators["D"](torch.zeros(3, 3, *canvas)).shape == (3, 1)
    model.eval()
    with torch.no_grad():
        assert model(batch).abs().max() <= 1

    model.train()
    model.config.stage = 1
    fake = model(batch)
    assert fake.shape == (n, 3, *size)
    g_terms = model.generator_losses(batch, fake)
    assert set(g_terms) == G_TERMS  # the same columns in both stages (the trainer's log)
    assert g_terms["gan"] == g_terms["l1"] == g_terms["mask_l1"] == 0 < g_terms["g1_mask_l1"] < g_terms["g1_l1"]
    d_terms = model.discriminator_losses(batch, fake)
    assert set(d_terms) == D_TERMS and all(v == 0 for v in d_terms.values())
    sum(d_terms.values()).backward()  # what the trainer does: no D parameter gets a gradient
    assert all(p.grad is None for p in model.discriminators.parameters())


def test_deepfashion_canvas_policy():
    torch.manual_seed(0)
    model = create_model("pg2", "deepfashion", width=1 / 32, stage=1)
    batch = posed_batch((256, 176), n=1)
    seen = {}
    model.generator.g1.register_forward_pre_hook(lambda m, args: seen.setdefault("input", args[0]))
    model(batch)
    x = seen["input"]
    assert x.shape == (1, 21, 256, 256)
    assert torch.equal(x[:, :3, :, 40:216], batch["source"])  # the 176 frame sits in the middle
    assert torch.equal(x[:, :3, :, :40], batch["source"][..., :1].expand(-1, -1, -1, 40))  # replicate pad
    y, x_kp = (int(v) for v in batch["target_keypoints"][0, INDEX["nose"]])
    assert x[0, 3 + INDEX["nose"], y, x_kp + 40] == 1  # disks drawn at the shifted keypoint, in {-1, 1}
    assert set(x[0, 3:].unique().tolist()) == {-1.0, 1.0}
    white = create_model("pg2", "deepfashion", width=1 / 32, stage=1, pad_mode="white")
    white.generator.g1.register_forward_pre_hook(lambda m, args: seen.__setitem__("white", args[0]))
    white(batch)
    assert (seen["white"][:, :3, :, :40] == 1).all() and (seen["white"][:, :3, :, 216:] == 1).all()
    # The training mask on the frame is the canvas mask cropped back.
    canvas_kp = batch["target_keypoints"].clone()
    canvas_kp[..., 1] += 40
    expected = pose_masks(canvas_kp, (256, 256))[..., 40:216]
    assert np.array_equal(model.target_mask(batch)[:, 0].numpy().astype(bool), expected)


def test_schedule_switches_to_stage_two_and_freezes_g1():
    torch.manual_seed(0)
    model = create_model("pg2", "market", width=1 / 32, g1_steps=2)
    batch = posed_batch((128, 64), n=1)
    optimizer = torch.optim.Adam(model.generator.parameters(), lr=1e-3, betas=(0.5, 0.999))
    stages = []
    for _ in range(4):
        fake = model(batch)
        g_terms = model.generator_losses(batch, fake)
        stages.append(2 if g_terms["gan"] > 0 else 1)
        d_terms = model.discriminator_losses(batch, fake.detach())
        assert all((v > 0) == (stages[-1] == 2) for v in d_terms.values())  # no D step while G1 trains
        optimizer.zero_grad(set_to_none=True)
        sum(g_terms.values()).backward()
        if stages[-1] == 2:
            assert all(p.grad is None for p in model.generator.g1.parameters())  # G1 frozen
        else:
            assert all(p.grad is None for p in model.generator.g2.parameters())
        optimizer.step()
    assert stages == [1, 1, 2, 2]
    assert int(model.state_dict()["steps"]) == 4  # the schedule survives a checkpoint


def _fit(model, batch, steps: int, params) -> list[float]:
    optimizer = torch.optim.Adam(params, lr=1e-3, betas=(0.5, 0.999))
    history = []
    for _ in range(steps):
        fake = model(batch)
        terms = model.generator_losses(batch, fake)
        loss = sum(terms[k] for k in ("g1_l1", "g1_mask_l1", "l1", "mask_l1"))  # the stage's reconstruction
        optimizer.zero_grad(set_to_none=True)
        sum(terms.values()).backward()
        optimizer.step()
        history.append(loss.item())
    return history


def test_training_steps_reduce_the_losses():
    torch.manual_seed(0)
    batch = posed_batch((128, 64), n=1)
    model = create_model("pg2", "market", width=1 / 32, stage=1)
    history = _fit(model, batch, 10, model.generator.parameters())
    assert history[-1] < 0.7 * history[0], history

    model.config.stage = 2  # continue from the trained G1, as the original does after 22k steps
    g1_before = [p.detach().clone() for p in model.generator.g1.parameters()]
    history = _fit(model, batch, 6, model.generator.parameters())
    assert history[-1] < history[0], history
    assert all(torch.equal(a, b) for a, b in zip(g1_before, model.generator.g1.parameters()))

    d_optimizer = torch.optim.Adam(model.discriminators.parameters(), lr=1e-3, betas=(0.5, 0.999))
    with torch.no_grad():
        fake = model(batch)
    d_history = []
    for _ in range(6):
        loss = sum(model.discriminator_losses(batch, fake).values())
        d_optimizer.zero_grad()
        loss.backward()
        d_optimizer.step()
        d_history.append(loss.item())
    assert d_history[-1] < d_history[0], d_history


def test_bad_configuration_and_inputs():
    with pytest.raises(BenchError, match="pad_mode"):
        create_model("pg2", "deepfashion", width=1 / 32, pad_mode="mirror")
    with pytest.raises(BenchError, match="stage"):
        create_model("pg2", "market", width=1 / 32, stage=3)
    with pytest.raises(BenchError, match="divisible"):
        create_model("pg2", "deepfashion", width=1 / 32, canvas=(256, 176))
    model = create_model("pg2", "market", width=1 / 32)
    batch = posed_batch((128, 64))
    del batch["target_keypoints"]
    with pytest.raises(BenchError, match="target_keypoints"):
        model(batch)
