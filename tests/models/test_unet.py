"""The SDGAN paper's U-Net baseline (pose-gan ``--warp_skip none``): counts, shapes, training."""
from __future__ import annotations

import pytest
import torch
from msource_helpers import ENC, IN, SIZES, conv_params, keras_encoder, ms_batch

from bench.errors import BenchError
from bench.models import count_parameters, create_model
from bench.registry import MODELS

DEC = {"market": (512, 512, 512, 256, 128, 3), "deepfashion": (512, 512, 512, 512, 256, 128, 3)}


def keras_unet(dataset: str) -> int:
    """pose-gan ``encoder([input_img, input_pose, output_pose])`` + ``decoder`` (Conv2DTranspose 4x4, no bias, IN)."""
    enc, dec = ENC[dataset], DEC[dataset]
    skips = enc[::-1]
    total = keras_encoder(3 + 18 + 18, enc)
    previous = 0
    for i, (skip, nf) in enumerate(zip(skips, dec)):
        if i == len(dec) - 1:
            total += conv_params(3, previous + skip, nf)
        else:
            total += conv_params(4, previous + skip, nf, bias=False) + IN
        previous = nf
    return total


def _pair_batch(size, n: int = 2, seed: int = 0) -> dict:
    batch = ms_batch(size, 1, n=n, seed=seed)
    return {k: (v[:, 0] if k in ("source", "source_pose", "source_keypoints") else v) for k, v in batch.items()}


def test_parameter_counts_match_the_keras_layers():
    assert keras_unet("market") == 36_072_533  # summed by hand from conditional_gan.py (warp_skip none)
    for dataset in ("market", "deepfashion"):
        with torch.device("meta"):
            generator = MODELS.get("unet").meta.generator_builder(dataset)
        assert count_parameters(generator) == keras_unet(dataset)
    model = create_model("unet", "deepfashion")
    assert count_parameters(model.generator) == keras_unet("deepfashion") == 48_655_449
    assert count_parameters(model.discriminators) == 2_803_782
    # One stream and half-width skips: smaller than Def-GAN's two-stream generator.
    assert count_parameters(model.generator) < MODELS.get("def-gan").meta.param_counts["deepfashion"]


@pytest.mark.parametrize("dataset, patches", [("market", (3, 1)), ("deepfashion", (7, 5))])
def test_shapes_and_inputs(dataset, patches):
    torch.manual_seed(0)
    model = create_model("unet", dataset, width=1 / 16)
    size = SIZES[dataset]
    batch = _pair_batch(size)
    fake = model(batch)
    assert fake.shape == (2, 3, *size) and fake.abs().max() <= 1
    assert model.generator.encoder.levels[0].in_channels == 39  # source image, source pose, target pose
    assert model.discriminators["D"](model._condition(batch, fake)).shape == (2, 1, *patches)
    assert set(model.generator_losses(batch, fake)) == {"gan", "l1"}
    assert set(model.discriminator_losses(batch, fake)) == {"D/real", "D/fake"}
    meta = model.metadata()
    assert meta["model"] == "unet" and meta["reconstruction"].startswith("pixel L1 x100")
    assert meta["training_in_original"]["batch_size"] == 4


def test_deepfashion_canvas_and_errors():
    model = create_model("unet", "deepfashion", width=1 / 16)
    batch = _pair_batch(SIZES["deepfashion"], n=1)
    (source, source_pose, target_pose), pads = model._canvas_inputs(batch)
    assert pads == (40, 40) and source.shape[-2:] == (256, 256)
    torch.testing.assert_close(target_pose[..., 40:216], batch["target_pose"], atol=1e-6, rtol=0)
    with pytest.raises(BenchError, match="one source"):
        model(ms_batch(SIZES["deepfashion"], 2, n=1))
    with pytest.raises(BenchError, match="reconstruction"):
        create_model("unet", "market", reconstruction="vgg")
    with pytest.raises(BenchError, match="unknown UNetConfig option"):
        create_model("unet", "market", fusion="attention")


def test_training_steps_reduce_the_l1_loss():
    torch.manual_seed(0)
    model = create_model("unet", "market", width=1 / 32)
    batch = _pair_batch(SIZES["market"], n=1)
    g_opt = torch.optim.Adam(model.generator.parameters(), lr=1e-3, betas=(0.5, 0.999))
    d_opt = torch.optim.Adam(model.discriminators.parameters(), lr=1e-3, betas=(0.5, 0.999))
    model.train()
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
        history.append(float(losses["l1"].detach()))
    assert history[-1] < 0.8 * history[0]
