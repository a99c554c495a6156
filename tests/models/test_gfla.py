"""GFLA at its published size, its flow padding, its losses and a few training steps (small width)."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import pair_gan_helpers
from weights_helpers import trust_weight
from baselines import gfla
from baselines.gfla import GFLAFlowGenerator, GFLAGenerator, ResDiscriminator, flow_padding, run_flow_net
from bench.errors import BenchError, DataError
from bench.models import count_parameters, create_model
from bench.registry import MODELS
from bench.train.checkpoint import save_checkpoint
from bench.train.losses import VGG19_LAYERS

SIZES = {"market": (128, 64), "deepfashion": (256, 176)}


def meta_model(dataset: str, **config):
    with torch.device("meta"):
        return create_model("gfla", dataset, **config)


def random_batch(size: tuple[int, int], batch: int = 2, seed: int = 0) -> dict[str, torch.Tensor]:
    return pair_gan_helpers.random_batch(batch, size, seed)


# --------------------------------------------------------------------------------------
# Parameter counts, counted by hand from the original layer definitions


def conv(cin: int, cout: int, k: int) -> int:
    return cin * cout * k * k + cout  # every conv / deconv in GFLA has a bias


def encoder_block(cin: int, cout: int) -> int:
    return 2 * cin + conv(cin, cout, 4) + 2 * cout + conv(cout, cout, 3)  # affine IN before each conv


def res_block(c: int) -> int:
    return 2 * (2 * c + conv(c, c, 3))


def res_decoder(cin: int, cout: int, hidden: int) -> int:
    return 2 * cin + conv(cin, hidden, 3) + 2 * hidden + conv(hidden, cout, 3) + conv(cin, cout, 3)


def hand_counts(attention: dict[int, int]) -> tuple[int, int]:
    """(whole generator, flow net) of PoseGenerator(layers 3, ngf 64, img_f 512) + PoseFlowNet(ngf 32, img_f 256)."""
    flow = sum(encoder_block(a, b) for a, b in [(39, 32), (32, 64), (64, 128), (128, 256), (256, 256)])
    for layer, (cin, cout) in zip((4, 3, 2), [(256, 256), (256, 128), (128, 64)]):
        flow += res_decoder(cin, cout, cout) + conv(cout, cout, 3)  # decoder + jump
        if layer in attention:
            flow += conv(cout, 2, 3) + conv(cout, 1, 3)  # flow + mask heads
    encoders = sum(encoder_block(a, b) for a, b in [(3, 64), (64, 128), (128, 256)])
    encoders += sum(encoder_block(a, b) for a, b in [(18, 64), (64, 128), (128, 256)])
    decoder = res_block(256) + res_decoder(256, 128, 256) + res_block(128) + res_decoder(128, 64, 128)
    decoder += res_block(64) + res_decoder(64, 64, 64) + conv(64, 3, 3)
    channels = {3: 256, 2: 128}
    attn = sum(conv(2 * channels[layer], 128, k) + conv(128, k * k, 1) for layer, k in attention.items())
    return encoders + decoder + attn + flow, flow


def hand_discriminator(layers: int) -> int:
    block = lambda cin, cout, hidden: conv(cin, hidden, 3) + conv(hidden, cout, 4) + conv(cin, cout, 1)  # noqa: E731
    blocks = [(3, 32, 32), (32, 64, 32), (64, 128, 64), (128, 128, 128)][:layers]
    return sum(block(*b) for b in blocks) + conv(128, 1, 1)


@pytest.mark.parametrize("dataset, attention, total, flow, d", [
    ("market", {2: 3}, 12_926_471, 6_604_753, 238_209),
    ("deepfashion", {3: 3, 2: 5}, 14_047_395, 6_608_212, 664_577),
])
def test_parameter_counts_are_the_originals(dataset, attention, total, flow, d):
    assert hand_counts(attention) == (total, flow)
    assert hand_discriminator(3 if dataset == "market" else 4) == d
    model = meta_model(dataset)
    assert count_parameters(model.generator) == total == MODELS.get("gfla").meta.param_counts[dataset]
    assert count_parameters(model.generator.flow_net) == flow
    assert count_parameters(model.discriminators["D"]) == d
    flow_stage = meta_model(dataset, stage="flow")
    assert count_parameters(flow_stage.generator) == flow and not flow_stage.discriminators
    with torch.device("meta"):
        assert count_parameters(MODELS.get("gfla").meta.generator_builder(dataset)) == total


def test_architecture_details():
    g = meta_model("deepfashion").generator
    assert isinstance(g, GFLAGenerator)
    assert (g.target.attn0.kernel_size, g.target.attn1.kernel_size) == (3, 5)  # layer 3 (1/8), layer 2 (1/4)
    assert g.target.attn0.fully_connect_layer[0].in_channels == 512 and g.target.attn1.fully_connect_layer[0].in_channels == 256
    assert hasattr(g.flow_net, "output1") and hasattr(g.flow_net, "output2") and not hasattr(g.flow_net, "output0")
    assert g.flow_net.block0.model[2].in_channels == 39
    norms = [m for m in g.modules() if isinstance(m, nn.InstanceNorm2d)]
    assert norms and all(m.affine for m in norms)
    assert {m.negative_slope for m in g.modules() if isinstance(m, nn.LeakyReLU)} == {0.1}
    assert not any(nn.utils.parametrize.is_parametrized(m) for m in g.modules())
    market = meta_model("market").generator
    assert market.target.attn1.kernel_size == 3 and not hasattr(market.target, "attn0")
    assert hasattr(market.flow_net, "output2") and not hasattr(market.flow_net, "output1")
    d = meta_model("deepfashion").discriminators["D"]
    assert isinstance(d, ResDiscriminator) and d.layers == 4 and meta_model("market").discriminators["D"].layers == 3
    convs = [m for m in d.modules() if isinstance(m, nn.Conv2d)]
    assert all(nn.utils.parametrize.is_parametrized(m, "weight") for m in convs)
    # Original state-dict keys (net_G of the released checkpoints).
    keys = set(g.state_dict())
    for key in ("source.block0.model.2.weight", "target.decoder0.0.model.0.model.2.weight", "target.decoder0.1.shortcut.0.weight",
                "target.attn1.fully_connect_layer.2.bias", "target.outconv.conv1.weight", "flow_net.jump2.conv1.weight",
                "flow_net.mask2.0.weight", "flow_net.output1.bias"):
        assert key in keys, key


def test_orthogonal_init_with_gain_002():
    g = create_model("gfla", "market", width=0.125).generator
    conv1 = g.flow_net.block0.model[2]  # 39*16 inputs -> 4 outputs: orthonormal rows scaled by 0.02
    w = conv1.weight.reshape(conv1.out_channels, -1)
    torch.testing.assert_close(w @ w.T, 0.02**2 * torch.eye(conv1.out_channels), atol=1e-7, rtol=0)
    assert all(m.bias.abs().max() == 0 for m in g.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)))
    d = create_model("gfla", "market", width=0.125).discriminators["D"]
    conv2 = d.block0.model[3]  # 4x4 conv, 4 -> 4 channels: a tall-or-wide matrix with singular values 0.02
    original = conv2.parametrizations.weight.original.reshape(4, -1)
    torch.testing.assert_close(torch.linalg.svdvals(original), torch.full((4,), 0.02), atol=1e-7, rtol=0)
    torch.testing.assert_close(torch.linalg.matrix_norm(conv2.weight.reshape(4, -1), ord=2), torch.tensor(1.0))
    assert all(m.bias.abs().max() == 0 for m in d.modules() if isinstance(m, nn.Conv2d))


def test_dataset_defaults_and_stage_weights():
    full, flow = meta_model("deepfashion").config, meta_model("deepfashion", stage="flow").config
    assert (full.lambda_l1, full.lambda_gan, full.lambda_content, full.lambda_style) == (5, 2, 0.5, 500)
    assert (full.correct_weight, full.regularization_weight) == (5, 0.0025)
    assert (flow.correct_weight, flow.regularization_weight) == (20, 0.01)
    assert meta_model("market").config.attention == {2: 3} and full.attention == {3: 3, 2: 5}
    assert gfla.TRAINING["betas"] == (0.0, 0.999) and (gfla.TRAINING["lr_g"], gfla.TRAINING["lr_d"]) == (1e-4, 1e-5)
    with pytest.raises(BenchError, match="stage"):
        create_model("gfla", "market", stage="both")
    with pytest.raises(BenchError, match="attention layers"):
        create_model("gfla", "market", attention={4: 3})
    with pytest.raises(BenchError, match="unknown GFLAConfig option"):
        create_model("gfla", "market", kernel=3)


# --------------------------------------------------------------------------------------
# Shapes and the resolution policy


@pytest.mark.parametrize("dataset", ["market", "deepfashion"])
@pytest.mark.parametrize("stage", ["full", "flow"])
def test_output_shapes(dataset, stage):
    torch.manual_seed(0)
    model = create_model("gfla", dataset, width=0.125, stage=stage, vgg=False).eval()
    h, w = SIZES[dataset]
    batch = random_batch((h, w), batch=1)
    with torch.no_grad():
        image, flows, masks = model.generator(batch["source"], batch["source_pose"], batch["target_pose"])
        assert torch.equal(model(batch), image)
    assert image.shape == (1, 3, h, w) and image.abs().max() <= 1
    scales = [8, 4] if dataset == "deepfashion" else [4]
    assert [tuple(f.shape) for f in flows] == [(1, 2, h // s, w // s) for s in scales]
    assert [tuple(m.shape) for m in masks] == [(1, 1, h // s, w // s) for s in scales]
    assert all(((m > 0) & (m < 1)).all() for m in masks)
    if stage == "full":
        down = 2 ** model.discriminators["D"].layers  # one stride-2 residual block per layer
        assert model.discriminators["D"](image).shape == (1, 1, h // down, w // down)


def test_flow_padding_policy():
    assert flow_padding((128, 64)) == (0, 0, 0, 0)
    assert flow_padding((256, 176)) == (8, 8, 0, 0)  # 176 -> 192
    assert flow_padding((256, 168)) == (8, 16, 0, 0)
    assert flow_padding((240, 256)) == (0, 0, 8, 8)
    with pytest.raises(BenchError, match="divisible by 8"):
        flow_padding((256, 170))


def test_flow_net_runs_on_the_padded_canvas_and_crops_exactly():
    torch.manual_seed(0)
    net = GFLAFlowGenerator({3: 3, 2: 5}, flow_ngf=4, flow_img_f=32).flow_net.eval()
    batch = random_batch((64, 48), batch=1)
    args = batch["source"], batch["source_pose"], batch["target_pose"]
    with torch.no_grad():
        flows, masks = run_flow_net(net, *args)
        pad = (8, 8, 0, 0)  # 48 -> 64
        full_flows, full_masks = net(F.pad(args[0], pad, mode="replicate"), F.pad(args[1], pad), F.pad(args[2], pad))
    assert torch.equal(flows[0], full_flows[0][..., 1:-1]) and torch.equal(masks[0], full_masks[0][..., 1:-1])  # 1/8
    assert torch.equal(flows[1], full_flows[1][..., 2:-2]) and torch.equal(masks[1], full_masks[1][..., 2:-2])  # 1/4
    assert flows[0].shape[-2:] == (8, 6) and flows[1].shape[-2:] == (16, 12)


def test_flow_stage_image_is_the_source_warped_by_the_finest_flow():
    model = create_model("gfla", "market", width=0.125, stage="flow", vgg=False)
    for p in model.generator.parameters():
        nn.init.zeros_(p)  # zero flow everywhere: the warp is the identity
    batch = random_batch((64, 32))
    torch.testing.assert_close(model(batch), batch["source"])


def test_multi_source_batches_are_rejected():
    model = create_model("gfla", "market", width=0.125, vgg=False)
    batch = random_batch((64, 32))
    batch["source"] = batch["source"].unsqueeze(1)
    with pytest.raises(BenchError, match="one source image"):
        model(batch)


# --------------------------------------------------------------------------------------
# Losses


@pytest.fixture(scope="module")
def vgg_dir(tmp_path_factory):
    """A randomly initialised torchvision-format VGG19 file (He init), cut after relu5_2."""
    g = torch.Generator().manual_seed(0)
    state, cin = {}, 3
    index = 0
    for name in VGG19_LAYERS[: VGG19_LAYERS.index("relu5_2") + 1]:
        if name.startswith("conv"):
            cout = 64 * 2 ** min(int(name[4]) - 1, 3)
            state[f"features.{index}.weight"] = torch.randn(cout, cin, 3, 3, generator=g) * math.sqrt(2 / (9 * cin))
            state[f"features.{index}.bias"] = torch.zeros(cout)
            cin = cout
        index += 1
    folder = tmp_path_factory.mktemp("weights")
    torch.save(state, folder / "vgg19-dcbb9e9d.pth")
    with pytest.MonkeyPatch.context() as patch:  # the random VGG19 stands in for the published file in this module
        trust_weight(patch, "vgg19", folder / "vgg19-dcbb9e9d.pth")
        yield str(folder)


def test_missing_vgg_weights_stop_a_vgg_run(tmp_path, monkeypatch):
    from bench.weights import WeightsMissing

    monkeypatch.setattr(torch.hub, "_hub_dir", torch.hub._hub_dir)
    torch.hub.set_dir(str(tmp_path / "hub"))
    monkeypatch.delenv("BENCH_WEIGHTS_DIR", raising=False)
    model = create_model("gfla", "market", width=0.125, weights_dir=str(tmp_path))
    with pytest.raises(WeightsMissing, match="vgg19-dcbb9e9d.pth"):
        model.prepare_losses()
    off = create_model("gfla", "market", width=0.125, vgg=False)
    off.prepare_losses()  # nothing to load
    meta = off.metadata()
    assert meta["generator_loss_terms"] == ["l1", "regularization", "gan"] and "off (config vgg=False)" in meta["vgg_terms"]


def test_loss_terms_with_vgg(vgg_dir):
    torch.manual_seed(0)
    model = create_model("gfla", "deepfashion", width=0.125, weights_dir=vgg_dir)
    batch = random_batch((64, 32))
    fake = model(batch)
    losses = model.generator_losses(batch, fake)
    expected = ["l1", "correctness", "regularization", "gan", "content", "style"]
    assert list(losses) == model.metadata()["generator_loss_terms"] == expected
    assert all(torch.isfinite(v) for v in losses.values())
    assert 0 <= losses["correctness"].item() / 5 <= 2 * (1 - math.exp(-1))  # two flows, each in [0, 1 - 1/e]
    assert model.loss_modules["vgg"].normalize == "none"
    # A perfect image: L1, content and style vanish; correctness and regularisation depend on flows only.
    perfect = model.generator_losses(batch, batch["target"].clone())
    assert perfect["l1"] == perfect["content"] == perfect["style"] == 0
    torch.testing.assert_close(perfect["correctness"], losses["correctness"])
    d_losses = model.discriminator_losses(batch, fake)
    assert set(d_losses) == {"D/real", "D/fake"}
    flow_model = create_model("gfla", "deepfashion", width=0.125, stage="flow", weights_dir=vgg_dir)
    flow_losses = flow_model.generator_losses(batch, flow_model(batch))
    assert list(flow_losses) == ["correctness", "regularization"] and flow_model.discriminator_losses(batch, None) == {}
    assert flow_model.loss_modules["vgg"].layers == ("relu3_1", "relu4_1")


def adam_steps(model, batch, steps: int, lr: float = 1e-3) -> list[float]:
    return pair_gan_helpers.train_generator(model, batch, steps, lr, betas=(0.0, 0.999), seed=None)


def test_a_few_adam_steps_reduce_the_generator_loss():
    # With gain-0.02 init the output starts near 0, the L1-optimal constant for a zero-median
    # random target; a target with a clear colour gives the first steps something to learn.
    torch.manual_seed(0)
    model = create_model("gfla", "market", width=0.125, vgg=False)
    model.discriminators.requires_grad_(False)
    batch = random_batch((64, 32), batch=1)
    batch["target"] = torch.tensor([0.6, -0.4, 0.2]).view(1, 3, 1, 1) + 0.1 * batch["target"]
    history = adam_steps(model, batch, steps=8)
    assert history[-1] < 0.92 * history[0], history


def test_flow_stage_steps_reduce_the_correctness_loss(vgg_dir):
    torch.manual_seed(0)
    model = create_model("gfla", "market", width=0.125, stage="flow", weights_dir=vgg_dir)
    history = adam_steps(model, random_batch((64, 32)), steps=8)
    assert history[-1] < history[0], history


def test_full_stage_starts_from_a_flow_stage_checkpoint(tmp_path):
    flow_model = create_model("gfla", "market", width=0.125, stage="flow", vgg=False)
    save_checkpoint(tmp_path / "model.pt", {"model": flow_model.state_dict()})
    full = create_model("gfla", "market", width=0.125, vgg=False, flow_init=str(tmp_path / "model.pt"))
    for key, value in flow_model.generator.flow_net.state_dict().items():
        assert torch.equal(full.generator.flow_net.state_dict()[key], value)
    save_checkpoint(tmp_path / "other.pt", {"model": {"generator.w": torch.zeros(1)}})
    with pytest.raises(DataError, match="flow_net"):
        create_model("gfla", "market", width=0.125, vgg=False, flow_init=str(tmp_path / "other.pt"))
    with pytest.raises(DataError, match="do not fit"):
        create_model("gfla", "deepfashion", width=0.125, vgg=False, flow_init=str(tmp_path / "model.pt"))


# --------------------------------------------------------------------------------------
# Through the harness trainer: flow stage, then the full stage from its flow net


class TinyPairs(torch.utils.data.Dataset):
    def __init__(self, n: int = 4, size: tuple[int, int] = (64, 32)):
        pairs = [{k: v[0] for k, v in random_batch(size, batch=1, seed=i).items()} for i in range(n)]
        self.items = [{**pair, "from": f"a{i}.jpg", "to": f"b{i}.jpg"} for i, pair in enumerate(pairs)]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int):
        return dict(self.items[index])


def test_two_stage_training_with_the_harness_trainer(tmp_path):
    from bench.train.config import TrainConfig
    from bench.train.trainer import FINAL, Trainer

    config = TrainConfig(iterations=1, batch_size=2, niter=1, log_every=1, ckpt_every=1, device="cpu",
                         lr_g=gfla.TRAINING["lr_g"], lr_d=gfla.TRAINING["lr_d"], betas=gfla.TRAINING["betas"])
    torch.manual_seed(0)
    flow = create_model("gfla", "market", width=0.125, stage="flow", vgg=False)
    assert set(Trainer(flow, TinyPairs(), config, run_dir=tmp_path / "flow", progress=False).fit()) == {"G/regularization"}
    full = create_model("gfla", "market", width=0.125, vgg=False, flow_init=str(tmp_path / "flow" / FINAL))
    for key, value in flow.generator.flow_net.state_dict().items():
        assert torch.equal(full.generator.flow_net.state_dict()[key], value)
    terms = Trainer(full, TinyPairs(), config, run_dir=tmp_path / "full", progress=False).fit()
    assert set(terms) == {"G/l1", "G/regularization", "G/gan", "D/real", "D/fake"}
    assert all(math.isfinite(v) for v in terms.values())
    # The saved model (spectral-norm state included) restores into a fresh one.
    fresh = create_model("gfla", "market", width=0.125, vgg=False)
    fresh.load_state_dict(torch.load(tmp_path / "full" / FINAL, weights_only=True)["model"])
