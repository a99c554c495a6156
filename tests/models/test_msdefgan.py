"""MS-DefGAN: Keras-derived parameter counts, any number of sources, attention that sums to one
over sources, order-free fusion, the pose-renderer hook, and training steps."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from msource_helpers import SIZES, keras_generator, ms_batch
from torch import nn

from baselines import msdefgan
from bench.errors import BenchError
from bench.models import count_parameters, create_model
from bench.registry import MODELS


def test_keras_counts_by_hand():
    # The Market attention generator summed layer by layer from conditional_gan.py.
    assert keras_generator("market") == 51_933_391
    assert keras_generator("market", "average") == 44_147_549


@pytest.mark.parametrize("dataset", ["market", "deepfashion"])
@pytest.mark.parametrize("fusion", ["attention", "average"])
def test_parameter_counts_match_the_keras_layers(dataset, fusion):
    with torch.device("meta"):
        generator = MODELS.get("msdefgan").meta.generator_builder(dataset, fusion=fusion)
    assert count_parameters(generator) == keras_generator(dataset, fusion)
    # The pose renderer of the default model holds no parameters.
    assert count_parameters(generator.pose_renderer) == 0


def test_full_model_and_discriminator_counts():
    model = create_model("msdefgan", "market")
    assert count_parameters(model.generator) == 51_933_391
    assert count_parameters(model.discriminators) == 2_803_782  # Def-GAN's patch D, shared by the sources
    fashion = create_model("msdefgan", "deepfashion", canvas=(256, 192))
    assert count_parameters(fashion.generator) == keras_generator("deepfashion") == 68_302_902


# --------------------------------------------------------------------------------------
# Shapes and the source axis


@pytest.mark.parametrize(
    "dataset, k",
    [("market", 1), ("market", 3), ("market", 10), ("deepfashion", 1), ("deepfashion", 3),
     pytest.param("deepfashion", 10, marks=pytest.mark.slow)],  # ~6-15 s: 10 sources x 10 warps at 256x256
)
def test_any_number_of_sources(dataset, k):
    torch.manual_seed(0)
    model = create_model("msdefgan", dataset, width=1 / 32, reconstruction="l1").eval()
    size = SIZES[dataset]
    batch = ms_batch(size, k, n=1 if k == 10 else 2)
    n = batch["target"].shape[0]
    with torch.no_grad():
        fake, attention = model(batch, return_attention=True)
    assert fake.shape == (n, 3, *size) and fake.abs().max() <= 1
    depth = 6 if dataset == "market" else 7
    assert len(attention) == depth
    canvas = model.canvas
    for d, weights in enumerate(attention):
        scale = 2 ** (depth - 1 - d)
        assert weights.shape[:2] == (n, k) and weights.shape[-2:] == (canvas[0] // scale, canvas[1] // scale)
    # DeepFashion's seventh level is past dmax = 6: a one-channel UpNet map.
    assert attention[-1].shape[2] == (1 if dataset == "deepfashion" else model.generator.decoder.attention[-1].out_channels)
    patch = (3, 1) if dataset == "market" else (7, 5)
    assert model.discriminate(batch, fake).shape == (n, k, *patch)
    assert set(model.generator_losses(batch, fake)) == {"gan", "l1"}
    assert set(model.discriminator_losses(batch, fake)) == {"D/real", "D/fake"}


def test_single_source_batches_run_as_one_source():
    torch.manual_seed(0)
    model = create_model("msdefgan", "market", width=1 / 32, reconstruction="l1").eval()
    batch = ms_batch(SIZES["market"], 1)
    single = {k: (v[:, 0] if k in ("source", "source_pose", "source_keypoints") else v) for k, v in batch.items()}
    assert single["source"].dim() == 4
    with torch.no_grad():
        torch.testing.assert_close(model(single), model(batch))
        torch.testing.assert_close(model.discriminate(single, batch["target"]), model.discriminate(batch, batch["target"]))
        _, attention = model(single, return_attention=True)
    for weights in attention:  # one source: every weight is exactly 1
        torch.testing.assert_close(weights, torch.ones_like(weights))


def test_deepfashion_canvas_per_source():
    model = create_model("msdefgan", "deepfashion", width=1 / 32, reconstruction="none")
    batch = ms_batch(SIZES["deepfashion"], 2, n=1)
    inputs, pads = model.generator_inputs(batch)
    assert pads == (40, 40) and inputs["sources"].shape == (1, 2, 3, 256, 256)
    torch.testing.assert_close(inputs["sources"][..., 40:216], batch["source"])
    assert inputs["source_maps"] is None  # redrawn on the canvas by the renderer
    # transforms are fitted per source in canvas coordinates: source j is the target
    # pose moved by (2j - 3 - 3) px in x (target shift 3), torso fit exact
    for j in range(2):
        np.testing.assert_allclose(inputs["transforms"][0, j, 0].numpy(),
                                   [[1, 0, 2.0 * j - 6], [0, 1, 0], [0, 0, 1]], atol=1e-9)
    assert inputs["masks"].shape == (1, 10, 256, 256)


def test_bad_inputs_raise_clear_errors():
    model = create_model("msdefgan", "market", width=1 / 32, reconstruction="none")
    with pytest.raises(BenchError, match="canvas"):
        model(ms_batch((96, 64), 2, n=1))
    with pytest.raises(BenchError, match="reconstruction"):
        create_model("msdefgan", "market", reconstruction="vgg")
    with pytest.raises(BenchError, match="fusion"):
        create_model("msdefgan", "market", fusion="max")
    with pytest.raises(BenchError, match="dmax"):
        create_model("msdefgan", "market", dmax=0)


# --------------------------------------------------------------------------------------
# The fusion


def _capture(model):
    """Hooks recording the decoder's skips, each level's raw attention and each step's input."""
    seen = {"raw": [], "step_in": []}
    dec = model.generator.decoder
    hooks = [dec.register_forward_pre_hook(lambda m, args: seen.__setitem__("skips", args[0]))]
    for att in dec.attention:
        hooks.append(att.register_forward_hook(lambda m, args, out: seen["raw"].append(out.detach().clone())))
    for step in dec.steps:
        hooks.append(step.register_forward_pre_hook(lambda m, args: seen["step_in"].append(args[0].detach().clone())))
    return seen, hooks


def test_attention_weights_sum_to_one_and_weight_the_skips():
    torch.manual_seed(0)
    model = create_model("msdefgan", "market", width=1 / 16, reconstruction="none").eval()
    k = 3
    seen, hooks = _capture(model)
    with torch.no_grad():
        _, attention = model(ms_batch(SIZES["market"], k), return_attention=True)
    for h in hooks:
        h.remove()
    for d, weights in enumerate(attention):
        raw = seen["raw"][d].numpy().reshape(weights.shape)  # (B, K, C, h, w): per-source maps before fusion
        clipped = np.clip(raw, 1e-7, 1 - 1e-7)
        expected = clipped / clipped.sum(axis=1, keepdims=True)
        np.testing.assert_allclose(weights.numpy(), expected, rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(weights.numpy().sum(axis=1), 1.0, atol=1e-5)
        assert (weights.numpy() > 0).all() and (weights.numpy() < 1).all()
        skip = seen["skips"][d].numpy()
        fused = (expected * skip).sum(axis=1)
        step_in = seen["step_in"][d].numpy()
        np.testing.assert_allclose(step_in[:, -skip.shape[2]:], fused, rtol=1e-4, atol=1e-5)
        if d == 0:  # level 0 decodes (mean of the skips, fused skip)
            np.testing.assert_allclose(step_in[:, : skip.shape[2]], skip.mean(axis=1), rtol=1e-5, atol=1e-6)
    # the sources really are weighed differently somewhere
    assert max(float(w.std(dim=1).max()) for w in attention) > 1e-3


@pytest.mark.parametrize("fusion", ["attention", "average"])
def test_fusion_is_symmetric_in_the_sources(fusion):
    """Shared encoders, shared attention nets and a normalised sum: reordering the sources
    leaves the image unchanged and permutes the attention maps and D's patch maps."""
    torch.manual_seed(0)
    model = create_model("msdefgan", "market", width=1 / 16, reconstruction="none", fusion=fusion).eval()
    batch = ms_batch(SIZES["market"], 4)
    order = torch.tensor([2, 0, 3, 1])
    permuted = {key: (value[:, order] if key in ("source", "source_pose", "source_keypoints") else value)
                for key, value in batch.items()}
    with torch.no_grad():
        fake, attention = model(batch, return_attention=True)
        fake_p, attention_p = model(permuted, return_attention=True)
        torch.testing.assert_close(fake_p, fake, atol=1e-5, rtol=1e-4)
        for a, a_p in zip(attention, attention_p):
            torch.testing.assert_close(a_p, a[:, order], atol=1e-6, rtol=1e-4)
        torch.testing.assert_close(model.discriminate(permuted, fake), model.discriminate(batch, fake)[:, order])
        assert not torch.allclose(model.discriminate(batch, fake)[:, 0], model.discriminate(batch, fake)[:, 1])


def _tf1_resize_bilinear(x: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """TF1 ``resize_bilinear(align_corners=False)`` without half-pixel centres, written from its definition."""
    in_h, in_w = x.shape[-2:]
    out = np.zeros(x.shape[:-2] + (out_h, out_w))
    for i in range(out_h):
        y = i * in_h / out_h
        y0 = int(np.floor(y)); y1 = min(y0 + 1, in_h - 1); fy = y - y0
        for j in range(out_w):
            xx = j * in_w / out_w
            x0 = int(np.floor(xx)); x1 = min(x0 + 1, in_w - 1); fx = xx - x0
            top = x[..., y0, x0] * (1 - fx) + x[..., y0, x1] * fx
            bottom = x[..., y1, x0] * (1 - fx) + x[..., y1, x1] * fx
            out[..., i, j] = top * (1 - fy) + bottom * fy
    return out


def test_tf1_bilinear_upsampling():
    x = torch.rand(2, 3, 4, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    np.testing.assert_allclose(msdefgan.upsample2x_tf1(x).numpy(), _tf1_resize_bilinear(x.numpy(), 8, 10), atol=1e-12)
    half_pixel = nn.functional.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
    assert not torch.allclose(msdefgan.upsample2x_tf1(x), half_pixel)  # the convention matters


# --------------------------------------------------------------------------------------
# The pose-renderer hook (issue 5 plugs a learnable renderer in here)


class _LearnableBlobs(msdefgan.PoseRenderer):
    """A stand-in learnable renderer: 5 channels, a trainable Gaussian width."""

    channels = 5

    def __init__(self):
        super().__init__()
        self.log_sigma = nn.Parameter(torch.tensor(1.5))

    def forward(self, keypoints, size, heatmaps=None):
        h, w = size
        ys = torch.arange(h, dtype=keypoints.dtype, device=keypoints.device)[:, None]
        xs = torch.arange(w, dtype=keypoints.dtype, device=keypoints.device)[None, :]
        kp = keypoints[:, :5].clamp(min=0)
        d2 = (ys - kp[..., 0, None, None]) ** 2 + (xs - kp[..., 1, None, None]) ** 2
        return torch.exp(-d2 / (2 * torch.exp(self.log_sigma) ** 2))


def test_a_learnable_pose_renderer_plugs_in_and_trains_with_the_generator():
    torch.manual_seed(0)
    renderer = _LearnableBlobs()
    model = MODELS.get("msdefgan").constructor(dataset="market", pose_renderer=renderer, width=1 / 32, reconstruction="l1")
    assert model.generator.pose_renderer is renderer
    assert model.generator.appearance.levels[0].in_channels == 3 + 5
    assert model.generator.pose.levels[0].in_channels == 2 * 5
    assert any(p is renderer.log_sigma for p in model.generator.parameters())  # the trainer's G optimiser sees it
    batch = ms_batch(SIZES["market"], 2)
    fake = model(batch)
    sum(model.generator_losses(batch, fake).values()).backward()
    assert renderer.log_sigma.grad is not None and renderer.log_sigma.grad.abs() > 0
    assert model.discriminate(batch, fake).shape[1] == 2  # the D still sees the batch's 18 heatmaps
    assert model.metadata()["pose_renderer"] == "_LearnableBlobs"


# --------------------------------------------------------------------------------------
# Training


class _TinyFeatures(nn.Module):
    """A fixed random conv standing in for VGG19 in the NN-loss path (weights are not available here)."""

    def __init__(self, layer: str):
        super().__init__()
        self.layer = layer
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.requires_grad_(False)

    def forward(self, x):
        return {self.layer: torch.relu(self.conv(x))}


def _train_steps(model, batch, steps: int, lr: float = 1e-3):
    g_opt = torch.optim.Adam(model.generator.parameters(), lr=lr, betas=(0.5, 0.999))
    d_opt = torch.optim.Adam(model.discriminators.parameters(), lr=lr, betas=(0.5, 0.999))
    model.train()
    history = []
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
        history.append({k: float(v.detach()) for k, v in losses.items()})
    return history


def test_training_steps_reduce_the_l1_loss_with_three_sources():
    torch.manual_seed(0)
    model = create_model("msdefgan", "market", width=1 / 32, reconstruction="l1")
    model.prepare_losses()
    assert "vgg" not in model.loss_modules
    history = _train_steps(model, ms_batch(SIZES["market"], 3, n=1), 8)
    assert history[-1]["l1"] < 0.8 * history[0]["l1"]


@pytest.mark.slow  # ~10-25 s on 2 shared cores
def test_training_steps_reduce_the_nn_loss():
    torch.manual_seed(0)
    # The paper weights (NN 0.001, GAN 0.1) leave the NN term small over a few steps;
    # weight it up so the test checks that its gradient reaches the generator.
    model = create_model("msdefgan", "market", width=1 / 32, lambda_nn=1.0, lambda_gan=0.01)
    model.loss_modules["vgg"] = _TinyFeatures(model.config.nn_layer)
    history = _train_steps(model, ms_batch(SIZES["market"], 3, n=1), 10)
    assert set(history[0]) == {"gan", "nn"}
    assert history[-1]["nn"] < 0.8 * history[0]["nn"]
    meta = create_model("msdefgan", "market", width=1 / 32).metadata()
    assert meta["generator_loss_terms"] == ["gan", "nn"] and "x0.001" in meta["reconstruction"] and "3x3" in meta["reconstruction"]
    assert meta["config"]["lambda_gan"] == 0.1


def test_discriminator_loss_is_not_scaled_by_the_gan_weight():
    """gan/gan.py weights only the generator's adversarial term (--gan_penalty_weight 0.1)."""
    torch.manual_seed(0)
    model = create_model("msdefgan", "market", width=1 / 32, reconstruction="none").eval()
    batch = ms_batch(SIZES["market"], 2, n=1)
    with torch.no_grad():
        fake = model(batch)
        logits = model.discriminate(batch, fake)
        expected_g = 0.1 * float(nn.functional.softplus(-logits).mean())  # -mean log sigmoid
        expected_fake = float(nn.functional.softplus(logits).mean())  # -mean log(1 - sigmoid)
        assert float(model.generator_losses(batch, fake)["gan"]) == pytest.approx(expected_g, rel=1e-5)
        assert float(model.discriminator_losses(batch, fake)["D/fake"]) == pytest.approx(expected_fake, rel=1e-5)
