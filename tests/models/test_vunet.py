"""VUnet at its released size, its inputs (stickman, part crops), KL term and a few training steps."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from baselines import vunet
from baselines.vunet import (
    UNUSED_TAIL,
    VARIANT_COUNTS,
    VUnetGenerator,
    WNConv2d,
    depth_to_space,
    latent_kl,
    part_crops,
    space_to_depth,
    split_groups,
    stickman,
)
from bench.data.keypoints import NAMES
from bench.errors import BenchError
from bench.models import count_parameters, create_model
from bench.registry import MODELS

J = {name: i for i, name in enumerate(NAMES)}
SIZES = {"market": (128, 64), "deepfashion": (256, 176)}
PARAMS = Path(__file__).resolve().parents[2] / "params.yaml"


def meta_generator(**config) -> VUnetGenerator:
    with torch.device("meta"):
        return VUnetGenerator(**config)


# ------------------------------------------------------------------------------ parameter counts


def tf_variable_count(size: int, box: int, bottleneck: int, n_filters: int = 32, max_filters: int = 128) -> int:
    """CompVis/vunet's trainable variables, counted from models.py / main.py by hand.

    conv3x3 and nin both hold V, g, b: k*k*cin*cout + 2*cout.
    """
    conv = lambda cin, cout, k=3: k * k * cin * cout + 2 * cout  # noqa: E731
    res = lambda c, skip=None: (conv(skip, c, 1) + conv(2 * c, c)) if skip else conv(c, c)  # noqa: E731

    def channels(nf, n):
        out = [nf]
        for _ in range(n - 1):
            out.append(min(2 * out[-1], max_filters))
        return out

    n_scales = 1 + int(round(math.log2(size))) - bottleneck
    dec, enc = channels(n_filters, n_scales), channels(n_filters * 2**box, n_scales - box)
    total = conv(3, dec[0], 1) + sum(2 * res(c) for c in dec) + sum(conv(a, b) for a, b in zip(dec, dec[1:]))  # dec_up
    total += conv(24, enc[0], 1) + sum(2 * res(c) for c in enc) + sum(conv(a, b) for a, b in zip(enc, enc[1:]))  # enc_up
    rev = dec[::-1]  # dec_down, coarsest first; latents on the two coarsest scales (spatial > 1: 4 AR groups)
    total += conv(rev[0], rev[0], 1) + sum(2 * res(c, c) for c in rev) + sum(conv(a, 4 * b) for a, b in zip(rev, rev[1:]))
    for c in rev[:2]:
        total += res(c) + 4 * conv(4 * c, c) + 3 * res(4 * c, c) + conv(2 * c, c, 1)
    erev = enc[::-1]  # enc_down: two latent scales, then one more upsample and block before the break
    total += conv(erev[0], erev[0], 1)
    for level in range(3):
        total += res(erev[level], erev[level])
        if level < 2:
            total += conv(erev[level], erev[level]) + res(erev[level], 2 * erev[level]) + conv(erev[level], 4 * erev[level + 1])
    total += conv(dec[0], 3)  # dec_params
    return total


@pytest.mark.parametrize("dataset, expected", [("market", 47_419_270), ("deepfashion", 47_272_966)])
def test_generator_has_the_release_parameter_count(dataset, expected):
    with torch.device("meta"):
        model = create_model("vunet", dataset)
    g = model.generator
    assert count_parameters(g) == expected == VARIANT_COUNTS[dataset]
    assert MODELS.get("vunet").meta.param_counts[dataset] == expected
    cfg = model.config
    assert tf_variable_count(cfg.spatial_size, cfg.box_factor, cfg.bottleneck_factor) == expected
    assert count_parameters(g.enc_down.tail_up) + count_parameters(g.enc_down.tail_block) == UNUSED_TAIL
    assert len(model.discriminators) == 0  # no GAN


def test_variant_counts_quoted_in_the_docstring():
    assert count_parameters(meta_generator(box_factor=0)) == VARIANT_COUNTS["market, box_factor 0 (128x128 crops)"]
    assert count_parameters(meta_generator(max_filters=256)) == VARIANT_COUNTS["market, max_filters 256"]
    assert tf_variable_count(128, 1, 1, max_filters=256) == VARIANT_COUNTS["market, max_filters 256"]
    # None of the readings of the published 139.36 M matches (module docstring).
    trained = {k: VARIANT_COUNTS[k] - UNUSED_TAIL for k in ("market", "deepfashion")}
    assert (3 * trained["market"], 3 * trained["deepfashion"]) == (139_549_842, 139_110_930)
    assert all(abs(3 * t / 1e6 - 139.36) > 0.1 for t in trained.values())


def test_dataset_defaults_are_the_release_configs():
    with torch.device("meta"):
        market, fashion = create_model("vunet", "market").config, create_model("vunet", "deepfashion").config
    assert (market.spatial_size, market.box_factor, market.bottleneck_factor, market.canvas_mode) == (128, 1, 1, "stretch")
    assert (fashion.spatial_size, fashion.box_factor, fashion.bottleneck_factor, fashion.canvas_mode) == (256, 2, 2, "pad")
    for cfg in (market, fashion):
        assert cfg.dropout == 0.1 and cfg.likelihood_weight == 5.0 and cfg.feature_weights == (1.0,) * 6
        assert cfg.gram_weights == (0.0,) * 6 and (cfg.kl_start, cfg.kl_end, cfg.kl_min) == (50_000, 75_000, 1e-6)
    g = meta_generator()
    assert g.n_scales == 7 and g.crop_size == 64 and len(g.enc_up.blocks) == 6
    assert [b[0].conv.v.shape[0] for b in g.dec_up.blocks] == [32, 64, 128, 128, 128, 128, 128]


def test_paper_profile_reproduces_the_original_schedule():
    from bench.train.config import load_config

    for dataset, batch in (("market", 16), ("deepfashion", 8)):
        cfg = load_config("vunet", dataset, "paper", PARAMS)
        assert (cfg.lr_g, cfg.betas, cfg.batch_size, cfg.iterations) == (1e-3, (0.5, 0.9), batch, 100_000)
        for step in (0, 999, 1000, 1001, 5000, 50_000, 99_999):
            original = min(max((0.0 - 1e-3) / (100_000 - 1000) * (step - 1000) + 1e-3, 0.0), 1e-3)  # make_linear_var
            assert cfg.lr_g * cfg.lr_factor(step) == pytest.approx(original, abs=1e-12)
    cpu = load_config("vunet", "market", "cpu", PARAMS)
    assert cpu.model["perceptual"] is False and cpu.model["width"] < 1


# ------------------------------------------------------------------------------ building blocks


def test_depth_to_space_follows_tensorflow_channel_order():
    x = torch.arange(8.0).reshape(1, 8, 1, 1)  # C = 2 after the rearrangement
    out = depth_to_space(x)
    # TF: output[h*2+i, w*2+j, c] = input[(i*2+j)*C + c]
    assert out[0, 0].tolist() == [[0.0, 2.0], [4.0, 6.0]]
    assert out[0, 1].tolist() == [[1.0, 3.0], [5.0, 7.0]]
    y = torch.randn(2, 3, 4, 6)
    assert torch.equal(depth_to_space(space_to_depth(y)), y)
    groups = split_groups(y)  # the four pixel offsets of each 2x2 block
    assert torch.equal(groups[1], y[:, :, 0::2, 1::2]) and torch.equal(groups[2], y[:, :, 1::2, 0::2])


def test_kl_matches_gaussian_kl_with_unit_variance():
    torch.manual_seed(0)
    qs = [torch.randn(3, 4, 2, 2), torch.randn(3, 4, 4, 4)]
    ps = [torch.randn(3, 4, 2, 2), torch.randn(3, 4, 4, 4)]
    reference = sum(
        torch.distributions.kl_divergence(torch.distributions.Normal(q, 1.0), torch.distributions.Normal(p, 1.0))
        .flatten(1).sum(1).mean() for q, p in zip(qs, ps))
    assert latent_kl(qs, ps).item() == pytest.approx(reference.item(), rel=1e-6)
    # by hand: 0.5 * ((1 - 0)^2 + (2 - 0)^2) per sample, mean over the batch
    q = torch.tensor([1.0, 2.0, 0.0, 0.0]).reshape(2, 2, 1, 1)
    assert latent_kl([q], [torch.zeros_like(q)]).item() == pytest.approx((2.5 + 0.0) / 2)


def test_kl_weight_ramp():
    with torch.device("meta"):
        model = create_model("vunet", "market")
    assert model.kl_weight(0) == 1e-6 and model.kl_weight(50_000) == pytest.approx(1e-6)
    assert model.kl_weight(62_500) == pytest.approx(0.5 + 0.5e-6)
    assert model.kl_weight(75_000) == 1.0 and model.kl_weight(99_999) == 1.0


def test_data_dependent_init_normalises_each_layer():
    torch.manual_seed(0)
    layer = WNConv2d(5, 7)
    x = torch.randn(8, 5, 6, 6) * 3 + 1
    layer.data_init = True
    first = layer(x)
    layer.data_init = False
    out = layer(x)
    assert torch.allclose(first, out, atol=1e-4)
    assert out.mean((0, 2, 3)).abs().max() < 1e-4
    assert (out.var((0, 2, 3), unbiased=False) - 1).abs().max() < 1e-3


def test_tf_same_padding_of_stride_two():
    layer = WNConv2d(1, 1, stride=2)
    with torch.no_grad():
        layer.v.zero_()
        layer.v[0, 0, 0, 0] = 1.0  # picks the top-left tap: TF SAME pads bottom/right only here
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    assert layer(x)[0, 0].tolist() == [[0.0, 2.0], [8.0, 10.0]]


# ------------------------------------------------------------------------------ stickman and crops


def keypoints_xy(**points) -> torch.Tensor:
    out = torch.full((1, 18, 2), -1.0)
    for name, xy in points.items():
        out[0, J[name]] = torch.tensor(xy, dtype=torch.float32)
    return out


def test_stickman_channels_values_and_thickness():
    body = dict(l_shoulder=(80, 30), r_shoulder=(40, 30), l_hip=(75, 80), r_hip=(45, 80))
    pts = keypoints_xy(**body, r_knee=(45, 100), r_ankle=(45, 120), l_knee=(75, 100), l_ankle=(75, 120), nose=(60, 15))
    img = stickman(pts, 128)[0]
    assert img.shape == (3, 128, 128) and set(img.unique().tolist()) <= {0.0, 127.0, 255.0}
    # right shin x = 45, thickness 3: columns 44..46 on channel 0, nothing at 47 or on channel 1
    assert img[0, 110, 44:47].tolist() == [255.0] * 3 and img[0, 110, 43] == 0 and img[0, 110, 47] == 0
    assert img[1, 110, 45] == 0 and img[1, 110, 75] == 255 and img[0, 110, 75] == 0
    # torso polygon on channel 2: inside, on its edge, outside
    assert img[2, 55, 60] == 255 and img[2, 30, 60] == 255 and img[2, 20, 60] == 0 and img[2, 55, 20] == 0
    # neck (60, 30) to nose (60, 15) at 127 on both limb channels
    assert img[0, 22, 60] == 127 and img[1, 22, 60] == 127 and img[0, 30, 60] == 127
    # no eyes: no nose-eye lines; no wrists/elbows: no arm lines
    assert img[0, 10, 60] == 0 and img[0, 30, 40] == 255 and img[0, 40, 30] == 0


def test_stickman_conditions_and_scaling():
    body = dict(l_shoulder=(160, 60), r_shoulder=(80, 60), l_hip=(160, 160), r_hip=(80, 160))
    eyes = dict(nose=(120, 30), r_eye=(100, 20), l_eye=(140, 20))
    img = stickman(keypoints_xy(**body, **eyes), 256)[0]
    assert img[0, 20, 100] == 255 and img[1, 20, 140] == 255 and img[1, 20, 100] == 0
    # r hip-shoulder line x = 80, thickness 6 at 256: pixel centres within 3 px
    assert img[0, 96, 77:84].tolist() == [255.0] * 7 and img[0, 96, 76] == 0 and img[0, 96, 84] == 0
    one_eye = stickman(keypoints_xy(**body, nose=(120, 30), r_eye=(100, 20)), 256)[0]
    assert one_eye[0, 20, 100] == 0  # both eyes needed
    no_hip = stickman(keypoints_xy(l_shoulder=(160, 60), r_shoulder=(80, 60), l_hip=(150, 160)), 256)[0]
    assert no_hip[2].sum() == 0 and no_hip[0].sum() == 0


def linear_image(size: int) -> torch.Tensor:
    """Channel 0 = x, channel 1 = y (pixel units), channel 2 = 1: bilinear sampling is exact."""
    y, x = torch.meshgrid(torch.arange(size, dtype=torch.float64), torch.arange(size, dtype=torch.float64), indexing="ij")
    return torch.stack((x, y, torch.ones_like(x)))[None]


def test_torso_crop_is_the_perspective_warp_of_its_quad():
    pts = keypoints_xy(l_shoulder=(40, 40), l_hip=(40, 88), r_hip=(88, 88), r_shoulder=(88, 40))
    crops = part_crops(linear_image(128), pts.double(), 64)
    assert crops.shape == (1, 24, 64, 64)
    u = torch.arange(64, dtype=torch.float64)
    # l_shoulder -> crop (0, 0), l_hip -> (0, 64), r_hip -> (64, 64): x = 40 + 0.75 u, y = 40 + 0.75 v
    assert torch.allclose(crops[0, 0], (40 + 0.75 * u)[None].expand(64, 64))
    assert torch.allclose(crops[0, 1], (40 + 0.75 * u)[:, None].expand(64, 64))
    assert crops[0, 3:6].abs().sum() > 0  # the head falls back to the square above the shoulders
    assert crops[0, 6:18].abs().sum() == 0  # the arms lack joints: zeros
    assert crops[0, 18:].abs().sum() > 0  # thighs without knees fall back to hip-to-bottom boxes


def test_limb_crop_geometry_and_fallbacks():
    pts = keypoints_xy(l_shoulder=(60, 20), r_shoulder=(40, 20), l_elbow=(60, 60), l_hip=(70, 70))
    crops = part_crops(linear_image(128), pts.double(), 64)
    upper_arm = crops[0, 6:9]  # part 2: l_shoulder -> l_elbow, a box of width 0.5 x length along the crop's x
    assert upper_arm[1, 32, 0].item() == pytest.approx(20.0) and upper_arm[1, 32, 63].item() == pytest.approx(20 + 40 * 63 / 64)
    assert upper_arm[0, 0, 0].item() == pytest.approx(50.0) and upper_arm[0, 63, 0].item() == pytest.approx(50 + 20 * 63 / 64)
    thigh = crops[0, 18:21]  # part 6 without knee: hip straight down to the last row
    assert thigh[1, 32, 0].item() == pytest.approx(70.0) and thigh[1, 32, 63].item() == pytest.approx(70 + 57 * 63 / 64)
    head = crops[0, 3:6]  # no nose: the square above the shoulder line, the shoulders along its bottom row
    assert head[0, 0, 0].item() == pytest.approx(60.0) and head[0, 0, 63].item() == pytest.approx(60 - 20 * 63 / 64)
    assert head[1, 0, 0].item() == pytest.approx(0.0) and head[1, 63, 0].item() == pytest.approx(20 * 63 / 64)


# ------------------------------------------------------------------------------ the model


def keypoints_yx(height: int, width: int) -> torch.Tensor:
    base = torch.tensor([[20, 32], [35, 32], [35, 22], [55, 20], [70, 20], [35, 42], [55, 44], [70, 44], [70, 26],
                         [95, 26], [120, 26], [70, 38], [95, 38], [120, 38], [17, 29], [17, 35], [19, 25], [19, 39]],
                        dtype=torch.float32)
    return base * torch.tensor([height / 128, width / 64])


def random_batch(dataset: str, batch: int = 4, seed: int = 0) -> dict:
    height, width = SIZES[dataset]
    gen = torch.Generator().manual_seed(seed)
    kp = keypoints_yx(height, width).expand(batch, 18, 2).clone()
    kp[1, J["l_wrist"]] = -1  # an unknown joint
    return {"source": torch.rand(batch, 3, height, width, generator=gen) * 2 - 1,
            "target": torch.rand(batch, 3, height, width, generator=gen) * 2 - 1,
            "source_keypoints": kp, "target_keypoints": kp.flip(0).clone()}


@pytest.mark.parametrize("dataset", ["market", "deepfashion"])
def test_shapes_and_latents(dataset):
    torch.manual_seed(0)
    model = create_model("vunet", dataset, width=0.125, perceptual=False)
    batch = random_batch(dataset)
    out = model(batch)
    assert out.shape == batch["target"].shape and bool(model.initialised)
    coarse = 2 if dataset == "market" else 4
    last = model._last
    assert [tuple(q.shape) for q in last["posterior"]] == [(4, 16, coarse, coarse), (4, 16, 2 * coarse, 2 * coarse)]
    assert [p.shape for p in last["prior"]] == [q.shape for q in last["posterior"]]
    losses = model.generator_losses(batch, out)
    assert set(losses) == {"pixel", "kl"} and all(torch.isfinite(v) for v in losses.values())
    model.eval()
    with torch.no_grad():
        test_out = model(batch)
        again = model(batch)
    assert test_out.shape == batch["target"].shape and test_out.abs().max() <= 1
    assert torch.equal(test_out, again)  # transfer uses posterior means: deterministic


def test_canvas_policies():
    with torch.device("meta"):
        market, fashion = create_model("vunet", "market"), create_model("vunet", "deepfashion")
    kp = torch.tensor([[[10.0, 20.0], [-1.0, -1.0]]])
    assert market.canvas_points(kp, 128, 64).tolist() == [[[40.0, 10.0], [-1.0, -1.0]]]  # (x, y), x stretched x2
    assert fashion.canvas_points(kp, 256, 176).tolist() == [[[60.0, 10.0], [-1.0, -1.0]]]  # shifted by 40
    image = torch.rand(1, 3, 256, 176)
    padded = fashion.canvas_images(image)
    assert padded.shape == (1, 3, 256, 256) and torch.equal(fashion.to_frame(padded, 256, 176), image)
    assert torch.equal(padded[..., :40], image[..., :1].expand(1, 3, 256, 40))
    small = torch.rand(1, 3, 128, 64)
    assert market.canvas_images(small).shape == (1, 3, 128, 128)
    assert market.to_frame(market.canvas_images(small), 128, 64).shape == small.shape


def test_a_few_adam_steps_reduce_the_loss():
    torch.manual_seed(0)
    model = create_model("vunet", "market", width=0.0625, perceptual=False, dropout=0.0)
    batch = random_batch("market", batch=4)
    # smooth targets: something to learn beyond their mean colour
    batch["target"] = torch.nn.functional.interpolate(torch.rand(4, 3, 4, 2) * 2 - 1, size=(128, 64), mode="bilinear")
    optimizer = torch.optim.Adam(model.generator.parameters(), lr=1e-3, betas=(0.5, 0.9))
    model.train()
    totals = []
    for _ in range(10):
        fake = model(batch)
        loss = sum(model.generator_losses(batch, fake).values())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        totals.append(loss.item())
    assert int(model.steps) == 10
    assert np.mean(totals[-3:]) < 0.7 * np.mean(totals[:3])


def test_losses_need_their_own_forward_and_vgg_terms_are_recorded():
    torch.manual_seed(0)
    model = create_model("vunet", "market", width=0.125, perceptual=False, gram_weights=(0.05, 0.0, 0.0, 0.0, 0.0, 0.0))
    batch = random_batch("market")
    with pytest.raises(BenchError, match="same batch"):
        model.generator_losses(batch, batch["target"])
    fake = model(batch)
    losses = model.generator_losses(batch, fake)
    assert set(losses) == {"pixel", "gram", "kl"}
    expected_pixel = 5.0 * 127.5 * (fake - batch["target"]).abs().mean()
    assert losses["pixel"].item() == pytest.approx(expected_pixel.item(), rel=1e-5)
    meta = model.metadata()
    assert meta["generator_loss_terms"] == ["pixel", "gram", "kl"] and "off" in meta["perceptual"]
    assert vunet.VGG_LAYERS == ("relu1_2", "relu2_2", "relu3_2", "relu4_2", "relu5_2")
