"""SDGAN: stacked scales on both datasets, one D per scale, parameter counts, training steps."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from bench.data.keypoints import INDEX, MISSING
from bench.data.pose import heatmaps
from bench.errors import BenchError
from bench.models import count_parameters, create_model
from bench.registry import MODELS

SIZES = {"market": (128, 64), "deepfashion": (256, 176)}
PATCHES = {"market": (3, 1), "deepfashion": (7, 5)}
POSE = dict(  # (y, x) on a 128x64 frame
    nose=(15, 32), r_eye=(12, 30), l_eye=(12, 34), r_shoulder=(30, 22), l_shoulder=(30, 42),
    r_hip=(70, 24), l_hip=(70, 40), r_knee=(95, 24), l_knee=(95, 40), r_ankle=(120, 24), l_ankle=(120, 40),
    r_elbow=(50, 16), l_elbow=(50, 48), r_wrist=(65, 14), l_wrist=(65, 50),
)


def _keypoints(size: tuple[int, int], shift: float) -> torch.Tensor:
    kp = torch.full((18, 2), float(MISSING))
    for name, (y, x) in POSE.items():
        kp[INDEX[name]] = torch.tensor([y * size[0] / 128, x * size[1] / 64 + shift])
    return kp


def _batch(size: tuple[int, int], n: int = 2, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)

    def smooth_image() -> torch.Tensor:  # low-frequency images a few steps can fit
        return F.interpolate(torch.rand(n, 3, 4, 2, generator=g) * 2 - 1, size=size, mode="bilinear", align_corners=False)

    src_kp = torch.stack([_keypoints(size, 0.0) for _ in range(n)])
    tgt_kp = torch.stack([_keypoints(size, 3.0 * (i + 1)) for i in range(n)])
    return {
        "source": smooth_image(), "target": smooth_image(),
        "source_pose": heatmaps(src_kp, size), "target_pose": heatmaps(tgt_kp, size),
        "source_keypoints": src_kp, "target_keypoints": tgt_kp,
        "from": [f"a{i}.jpg" for i in range(n)], "to": [f"b{i}.jpg" for i in range(n)],
    }


def _conv(in_ch: int, out_ch: int, k: int, bias: bool) -> int:
    return in_ch * out_ch * k * k + (out_ch if bias else 0)


def test_parameter_counts_from_the_layer_list():
    for dataset, published in (("market", 61_192_035), ("deepfashion", 82_163_561)):
        with torch.device("meta"):
            sdgan = create_model("sdgan", dataset)
            defgan = create_model("def-gan", dataset)
        # Def-GAN's generator without its output layer (ReLU, 3x3 conv 256 -> 3), plus one head per
        # scale on concat(decoded l_i, Def-GAN skip, 512-ch pose code h_b) at 1/4, 1/2 and full size.
        heads = _conv(512 + 512 + 512, 3, 3, True) + _conv(256 + 256 + 512, 3, 3, True) + _conv(128 + 128 + 512, 3, 3, True)
        expected = count_parameters(defgan.generator) - _conv(128 + 128, 3, 3, True) + heads
        assert count_parameters(sdgan.generator) == expected == published == MODELS.get("sdgan").meta.param_counts[dataset]
        # D2 is Def-GAN's D; D1 / D0 drop its deepest IN blocks (2 scalar-IN parameters each).
        d1 = _conv(42, 64, 4, True) + _conv(64, 128, 4, False) + 2 + _conv(128, 256, 4, False) + 2 + _conv(256, 1, 4, False)
        d0 = _conv(42, 64, 4, True) + _conv(64, 128, 4, False) + 2 + _conv(128, 1, 4, False)
        counts = {name: count_parameters(d) for name, d in sdgan.discriminators.items()}
        assert counts == {"D0": d0, "D1": d1, "D2": count_parameters(defgan.discriminators["D"])}
        assert counts["D2"] == 2_803_782
    # No fully-connected layers (the fork's 189M of Linear weights are not in the paper).
    assert not any(isinstance(m, nn.Linear) for m in sdgan.modules())


@pytest.mark.parametrize("dataset", ["market", "deepfashion"])
def test_every_scale_has_its_image_and_discriminator(dataset):
    torch.manual_seed(0)
    size = SIZES[dataset]
    model = create_model("sdgan", dataset, width=1 / 16)
    batch = _batch(size)
    fake = model(batch)
    images = model.generate(batch)
    assert [tuple(i.shape) for i in images] == [(2, 3, size[0] // f, size[1] // f) for f in (4, 2, 1)]
    assert fake.shape == (2, 3, *size) and all(i.abs().max() <= 1 for i in images)
    assert list(model.discriminators) == ["D0", "D1", "D2"]
    for scale, image in enumerate(images):
        logits = model.discriminators[f"D{scale}"](model._condition(batch, image, scale))
        assert logits.shape == (2, 1, *PATCHES[dataset])  # the same patch grid at every scale
    assert set(model.generator_losses(batch, fake)) == {f"{t}_{i}" for i in range(3) for t in ("gan", "l1")}
    # A batch forward never saw: the lower scales are regenerated for the D step.
    other = _batch(size, seed=1)
    with torch.no_grad():
        terms = model.discriminator_losses(other, model.generate(other)[-1])
    assert set(terms) == {f"D{i}/{t}" for i in range(3) for t in ("real", "fake")}


@pytest.mark.parametrize("scales", [1, 2, 4])
def test_discriminator_count_follows_the_number_of_scales(scales):
    model = create_model("sdgan", "market", width=1 / 16, scales=scales)
    assert len(model.discriminators) == scales == len(model.generator.heads)
    images = model.generate(_batch((128, 64), n=1))
    assert [i.shape[-2:] for i in images] == [(128 // 2 ** k, 64 // 2 ** k) for k in reversed(range(scales))]
    assert model.generator.stage_steps()[0] == list(range(6 - scales))


def test_low_resolution_output_is_consistent_with_the_downsampled_target():
    torch.manual_seed(0)
    model = create_model("sdgan", "market", width=1 / 16).eval()  # no dropout: repeatable
    batch = _batch((128, 64))
    fake = model(batch)
    low = model._last["images"][0]
    target = F.interpolate(batch["target"], size=(32, 16), mode="area")  # 4x4 block means
    assert low.shape == target.shape
    losses = model.generator_losses(batch, fake)
    torch.testing.assert_close(losses["l1_0"], 100 * (low - target).abs().mean())
    torch.testing.assert_close(losses["l1_2"], 100 * (fake - batch["target"]).abs().mean())
    # DeepFashion: each scale is the 256x256 canvas output cropped by the pad / its factor.
    deep = create_model("sdgan", "deepfashion", width=1 / 16).eval()
    batch = _batch((256, 176), n=1)
    inputs, pads = deep._canvas_inputs(batch)
    canvas = deep.generator(*inputs)
    assert pads == (40, 40) and [tuple(i.shape[-2:]) for i in canvas] == [(64, 64), (128, 128), (256, 256)]
    cropped = deep.generate(batch)
    torch.testing.assert_close(cropped[0], canvas[0][..., 10:54])
    torch.testing.assert_close(cropped[1], canvas[1][..., 20:108])


def test_decoders_are_stacked():
    """The low-resolution image depends on DC_0 only; the later decoders refine from l_0."""
    model = create_model("sdgan", "market", width=1 / 16)
    batch = _batch((128, 64), n=1)
    fake = model(batch)
    model.generator_losses(batch, fake)["l1_0"].backward()
    g = model.generator
    assert g.up[0][1].weight.grad.abs().sum() > 0 and g.heads[0][1].weight.grad.abs().sum() > 0
    later = [g.up[3], g.up[4], g.heads[1], g.heads[2]]
    assert all(p.grad is None for m in later for p in m.parameters())
    model.zero_grad()
    model.generator_losses(batch, model(batch))["l1_2"].backward()
    assert all(p.grad is not None for m in (g.up[0], g.up[4], g.heads[2]) for p in m.parameters())


def test_paper_activation_and_options():
    model = create_model("sdgan", "market", width=1 / 16)
    assert all(isinstance(step[0], nn.LeakyReLU) for step in model.generator.up)
    assert all(isinstance(head[0], nn.LeakyReLU) for head in model.generator.heads)
    fork = create_model("sdgan", "market", width=1 / 16, decoder_activation="relu", pose_upsampling="bilinear")
    assert all(isinstance(step[0], nn.ReLU) for step in fork.generator.up)
    assert fork.generate(_batch((128, 64), n=1))[0].shape == (1, 3, 32, 16)
    meta = create_model("sdgan", "deepfashion", width=1 / 16).metadata()
    assert meta["scales"] == [[64, 44], [128, 88], [256, 176]] and meta["canvas"] == [256, 256]
    for bad, match in (({"scales": 0}, "scales"), ({"scales": 5}, "scales"), ({"decoder_activation": "elu"}, "decoder_activation"),
                       ({"pose_upsampling": "cubic"}, "pose_upsampling"), ({"lambda_nn": 1.0}, "unknown SDGANConfig")):
        with pytest.raises(BenchError, match=match):
            create_model("sdgan", "market", width=1 / 16, **bad)


def test_training_steps_reduce_the_l1_at_every_scale():
    torch.manual_seed(0)
    model = create_model("sdgan", "market", width=1 / 32)
    batch = _batch((128, 64), n=1)
    g_opt = torch.optim.Adam(model.generator.parameters(), lr=1e-3, betas=(0.5, 0.999))
    d_opt = torch.optim.Adam(model.discriminators.parameters(), lr=1e-3, betas=(0.5, 0.999))
    history = []
    for _ in range(10):
        fake = model(batch)
        losses = model.generator_losses(batch, fake)
        g_opt.zero_grad()
        sum(losses.values()).backward()
        g_opt.step()
        d_opt.zero_grad()
        sum(model.discriminator_losses(batch, fake.detach()).values()).backward()
        d_opt.step()
        history.append({k: float(v.detach()) for k, v in losses.items()})
    for scale in range(3):
        assert history[-1][f"l1_{scale}"] < 0.8 * history[0][f"l1_{scale}"]
