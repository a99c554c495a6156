"""PATN at its published size, its losses and a few training steps (small width)."""
from __future__ import annotations

import pytest
import torch
from pair_gan_helpers import SIZES, generator_loss, random_batch, train_discriminators, train_generator
from torch import nn

from baselines.patn import PATNGenerator
from bench.errors import BenchError
from bench.models import count_parameters, create_model
from bench.registry import MODELS


def meta_model(name: str, dataset: str, **config):
    with torch.device("meta"):
        return create_model(name, dataset, **config)


def resnet_discriminator_params(in_ch: int, ndf: int, norm: str, n_blocks: int = 3) -> int:
    """Counted by hand from PATN's ResnetDiscriminator layer list."""
    bias = norm == "instance"
    norm_params = (lambda c: 2 * c) if norm == "batch" else (lambda c: 0)
    conv = lambda cin, cout, k: cin * cout * k * k + (cout if bias else 0)  # noqa: E731
    total = conv(in_ch, ndf, 7) + norm_params(ndf)
    total += conv(ndf, 2 * ndf, 3) + norm_params(2 * ndf) + conv(2 * ndf, 4 * ndf, 3) + norm_params(4 * ndf)
    total += n_blocks * 2 * (conv(4 * ndf, 4 * ndf, 3) + norm_params(4 * ndf))
    return total


@pytest.mark.parametrize("dataset, expected", [("market", 41_365_763), ("deepfashion", 41_358_019)])
def test_generator_has_the_original_parameter_count(dataset, expected):
    model = meta_model("patn", dataset)
    assert count_parameters(model.generator) == expected
    assert MODELS.get("patn").meta.param_counts[dataset] == expected
    norm = {"market": "batch", "deepfashion": "instance"}[dataset]
    assert count_parameters(model.discriminators["D_PB"]) == resnet_discriminator_params(21, 64, norm)
    assert count_parameters(model.discriminators["D_PP"]) == resnet_discriminator_params(6, 64, norm)


def test_dataset_defaults_are_the_published_settings():
    market, fashion = meta_model("patn", "market").config, meta_model("patn", "deepfashion").config
    assert (market.norm, market.gan_mode, market.pool_size) == ("batch", "vanilla", 50)
    assert (market.lambda_gan, market.lambda_l1, market.lambda_perceptual) == (5, 10, 10)
    assert (fashion.norm, fashion.gan_mode, fashion.pool_size) == ("instance", "lsgan", 0)
    assert (fashion.lambda_gan, fashion.lambda_l1, fashion.lambda_perceptual) == (5, 1, 1)
    assert market.n_blocks == fashion.n_blocks == 9 and market.dropout and market.dropout_d


def test_architecture_details():
    g = meta_model("patn", "market").generator
    assert isinstance(g, PATNGenerator) and len(g.att) == 9
    assert sum(isinstance(m, nn.Dropout) and m.p == 0.5 for m in g.modules()) == 18
    # Block 1's pose branch is 256 -> 256; later ones take the 512-channel concatenation.
    assert g.att[0].conv_block_stream2[1].in_channels == 256 and g.att[1].conv_block_stream2[1].in_channels == 512
    assert g.att[1].conv_block_stream2[-1].out_channels == 256  # no norm after the pose conv
    assert isinstance(g.att[1].conv_block_stream2[-1], nn.Conv2d)
    assert g.stream2_down[1].in_channels == 36 and g.stream1_down[1].bias is None  # BN: no conv bias
    fashion = meta_model("patn", "deepfashion").generator
    assert fashion.stream1_down[1].bias is not None
    assert not any(isinstance(m, nn.BatchNorm2d) for m in fashion.modules())


def test_conv_init_is_normal_002():
    torch.manual_seed(0)
    g = create_model("patn", "market", width=0.5).generator
    weights = torch.cat([m.weight.flatten() for m in g.modules() if isinstance(m, nn.Conv2d)])
    assert abs(weights.std().item() - 0.02) < 0.002 and abs(weights.mean().item()) < 0.001
    bn = torch.cat([m.weight for m in g.modules() if isinstance(m, nn.BatchNorm2d)])
    assert abs(bn.mean().item() - 1) < 0.01 and 0.01 < bn.std().item() < 0.03


@pytest.mark.parametrize("dataset", ["market", "deepfashion"])
def test_output_and_discriminator_shapes(dataset):
    torch.manual_seed(0)
    model = create_model("patn", dataset, width=0.125, perceptual=False)
    batch = random_batch(2, SIZES[dataset])
    fake = model(batch)
    h, w = SIZES[dataset]
    assert fake.shape == (2, 3, h, w) and fake.abs().max() <= 1
    d_pb = model.discriminators["D_PB"](torch.cat((fake, batch["target_pose"]), 1))
    assert d_pb.shape == (2, 32, h // 4, w // 4)  # 4*ndf channels, no 1-channel head
    losses = model.generator_losses(batch, fake)
    assert set(losses) == {"l1", "gan"}
    assert torch.isclose(losses["l1"], model.config.lambda_l1 * (fake - batch["target"]).abs().mean())
    assert set(model.discriminator_losses(batch, fake.detach())) == {"D_PB/real", "D_PB/fake", "D_PP/real", "D_PP/fake"}


def test_full_size_market_forward():
    model = create_model("patn", "market", perceptual=False).eval()
    with torch.no_grad():
        assert model(random_batch(1, SIZES["market"])).shape == (1, 3, 128, 64)


def test_discriminator_terms_follow_the_original_weighting():
    torch.manual_seed(0)
    model = create_model("patn", "deepfashion", width=0.125, perceptual=False).eval()  # LSGAN, pool 0
    batch = random_batch(2)
    fake = model(batch).detach()
    losses = model.discriminator_losses(batch, fake)
    d = model.discriminators["D_PP"]
    real_out, fake_out = d(torch.cat((batch["target"], batch["source"]), 1)), d(torch.cat((fake, batch["source"]), 1))
    expected = 5 * 0.5 * (((real_out - 1) ** 2).mean() + (fake_out**2).mean())
    assert torch.isclose(losses["D_PP/real"] + losses["D_PP/fake"], expected, rtol=1e-5)


def test_market_gan_is_bce_on_logits_and_fakes_go_through_the_pool():
    torch.manual_seed(0)
    model = create_model("patn", "market", width=0.125, perceptual=False)
    assert not isinstance(model.discriminators["D_PB"].model[-1], nn.Sigmoid)  # BCE-with-logits instead
    batch = random_batch(3)
    model.discriminator_losses(batch, model(batch).detach())
    assert len(model.pools["D_PB"]) == 3 and len(model.pools["D_PP"]) == 3


def test_training_steps_reduce_losses():
    torch.manual_seed(0)
    model = create_model("patn", "market", width=0.125, perceptual=False)
    batch = random_batch(2)
    history = train_generator(model, batch, steps=10)
    assert history[-1] < 0.95 * history[0]
    d_history = train_discriminators(model, batch, steps=6)
    assert d_history[-1] < d_history[0]


def test_perceptual_switch_is_recorded_and_needs_weights(tmp_path, monkeypatch):
    off = create_model("patn", "market", width=0.125, perceptual=False)
    assert off.metadata()["perceptual"].startswith("off") and "perceptual" not in off.metadata()["generator_loss_terms"]
    monkeypatch.setattr(torch.hub, "_hub_dir", str(tmp_path / "hub"))
    monkeypatch.delenv("BENCH_WEIGHTS_DIR", raising=False)
    on = create_model("patn", "market", width=0.125, weights_dir=str(tmp_path))
    assert "perceptual" in on.metadata()["generator_loss_terms"]
    from bench.weights import WeightsMissing

    with pytest.raises(WeightsMissing, match="vgg19"):
        on.generator_losses(random_batch(1), torch.zeros(1, 3, 32, 16))


def test_bad_config_and_inputs_are_clear_errors():
    with pytest.raises(BenchError, match="unknown PATNConfig option.*nbloks"):
        create_model("patn", "market", nbloks=3)
    with pytest.raises(BenchError, match="unknown dataset"):
        create_model("patn", "fashion")
    model = create_model("patn", "market", width=0.125, perceptual=False)
    batch = random_batch(1)
    batch["source"] = batch["source"].unsqueeze(1)
    with pytest.raises(BenchError, match="one source image"):
        model(batch)


def test_every_generator_parameter_gets_a_gradient():
    model = create_model("patn", "market", width=0.125, perceptual=False)
    generator_loss(model, random_batch(1)).backward()
    assert all(p.grad is not None for p in model.generator.parameters())
