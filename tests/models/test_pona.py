"""PoNA at its published size, its attention maths, the ablation variants and training steps."""
from __future__ import annotations

import pytest
import torch
from pair_gan_helpers import SIZES, random_batch, train_discriminators, train_generator
from torch import nn

from baselines.pona import VARIANTS, PoNABlock, SelfAttention, non_local
from bench.errors import BenchError
from bench.models import count_parameters, create_model
from bench.registry import MODELS


def meta_generator(name: str, dataset: str, **config) -> nn.Module:
    with torch.device("meta"):
        return MODELS.get(name).meta.generator_builder(dataset, **config)


@pytest.mark.parametrize("name, dataset, expected", [
    ("pona", "deepfashion", 34_329_356),  # the released code; paper Table II 34.33 M
    ("pona", "market", 34_347_340),  # batch norm everywhere (paper, implementation details)
    ("pona-b2", "market", 23_311_497),  # paper Table II "2 PoNA blocks": 23.31 M
    ("pona-b2", "deepfashion", 23_299_145),
])
def test_parameter_counts(name, dataset, expected):
    assert count_parameters(meta_generator(name, dataset)) == expected


def test_published_sizes_round_to_table_ii():
    assert round(count_parameters(meta_generator("pona", "deepfashion")) / 1e6, 2) == 34.33
    assert round(count_parameters(meta_generator("pona-b2", "market")) / 1e6, 2) == 23.31


def test_full_model_count_matches_generator_builder_and_d_is_spectral():
    with torch.device("meta"):
        model = create_model("pona", "deepfashion")
    assert count_parameters(model.generator) == 34_329_356
    convs = [m for m in model.discriminators["D_PB"].modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 9 and all(nn.utils.parametrize.is_parametrized(c, "weight") for c in convs)
    assert model.discriminators["D_PB"].model[1].in_channels == 21 and model.discriminators["D_PP"].model[1].in_channels == 6


def test_block_layout_matches_the_code():
    block = meta_generator("pona", "deepfashion").att[0]
    assert block.att2.query_conv.out_channels == 64 and block.att2.value_conv.out_channels == 512
    assert block.query_conv.in_channels == 256 and block.query_conv.out_channels == 32
    assert block.dconv.conv[0].in_channels == 512 and block.dconv2.conv[4].out_channels == 256
    assert block.dconv.residual and not block.dconv2.residual and block.conv.residual and block.conv2.residual
    assert isinstance(block.conv.conv[1], nn.InstanceNorm2d) and isinstance(block.conv.conv[3], nn.Dropout)


def test_learnable_scales_start_at_zero():
    g = create_model("pona", "market", width=0.125, perceptual=False).generator
    for block in g.att:
        assert block.gamma.item() == 0 and block.att2.gamma.item() == 0 and block.att2.beta.item() == 0
        assert block.gamma.requires_grad and block.att2.beta.requires_grad


def test_non_local_matches_the_explicit_formula():
    torch.manual_seed(0)
    q, k, v = torch.randn(2, 4, 5, 3), torch.randn(2, 4, 5, 3), torch.randn(2, 6, 5, 3)
    # PoNA eq. 4-6: softmax over j of q_i . k_j, then o_i = sum_j alpha_ij v_j (no 1/sqrt(d) scaling).
    energy = torch.einsum("bci,bcj->bij", q.flatten(2), k.flatten(2))
    expected = torch.einsum("bij,bcj->bci", energy.softmax(-1), v.flatten(2)).reshape(2, 6, 5, 3)
    assert torch.allclose(non_local(q, k, v), expected, atol=1e-5)


def test_non_local_gradients_match_the_explicit_formula():
    # The fused kernel runs on zero-padded query/key channels: their gradients must be the formula's.
    torch.manual_seed(1)
    inputs = [torch.randn(2, 4, 6, 5, requires_grad=True), torch.randn(2, 4, 6, 5, requires_grad=True),
              torch.randn(2, 8, 6, 5, requires_grad=True)]
    weight = torch.randn(2, 8, 6, 5)
    (non_local(*inputs) * weight).sum().backward()
    fused = [t.grad.clone() for t in inputs]
    q, k, v = (t.detach().requires_grad_() for t in inputs)
    energy = torch.einsum("bci,bcj->bij", q.flatten(2), k.flatten(2))
    explicit = torch.einsum("bij,bcj->bci", energy.softmax(-1), v.flatten(2)).reshape(2, 8, 6, 5)
    (explicit * weight).sum().backward()
    for got, want in zip(fused, (q.grad, k.grad, v.grad)):
        assert torch.allclose(got, want, atol=1e-5)


def test_self_attention_formula():
    torch.manual_seed(0)
    sa = SelfAttention(16)
    x = torch.randn(1, 16, 4, 3)
    assert torch.equal(sa(x), x)  # gamma = beta = 0: identity at init
    with torch.no_grad():
        sa.gamma.fill_(0.7), sa.beta.fill_(-0.3)
    attended = non_local(sa.query_conv(x), sa.key_conv(x), sa.value_conv(x))
    assert torch.allclose(sa(x), 0.7 * attended - 0.3 * x + x, atol=1e-6)


def test_block_starts_as_its_image_pathway():
    torch.manual_seed(0)
    block = PoNABlock(16, "instance").eval()
    image, pose = torch.randn(1, 16, 6, 4), torch.randn(1, 16, 6, 4)
    out, new_pose = block(image, pose)
    assert torch.allclose(out, block.conv2(block.conv(image)))  # gamma = 0
    with torch.no_grad():
        block.gamma.fill_(1.0)
    out_moved, _ = block(image, pose)
    assert not torch.allclose(out_moved, out) and new_pose.shape == pose.shape


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_every_variant_builds_runs_and_reaches_the_table_rows(name):
    torch.manual_seed(0)
    model = create_model(name, "market", width=0.125, perceptual=False)
    fake = model(random_batch(2))
    assert fake.shape == (2, 3, 32, 16)
    assert MODELS.get(name).meta.paper_rows.startswith("Table")
    assert model.metadata()["model"] == name


def test_variant_definitions():
    counts = {name: len(meta_generator(name, "market").att) for name in ("pona-b1", "pona-b2", "pona", "pona-b4", "pona-b5")}
    assert counts == {"pona-b1": 1, "pona-b2": 2, "pona": 3, "pona-b4": 4, "pona-b5": 5}
    assert isinstance(meta_generator("pona-wo-self", "market").att[0].att2, nn.Identity)
    wo_cross = meta_generator("pona-wo-cross", "market")
    assert not hasattr(wo_cross, "stream2_down") and not hasattr(wo_cross.att[0], "query_conv")
    middle, tail, none = (meta_generator(f"pona-fuse-{p}", "market").att[0] for p in ("middle", "tail", "none"))
    assert middle.dconv.conv[0].in_channels == 256 and middle.att2.value_conv.in_channels == 512
    assert tail.query_conv.in_channels == 512 and tail.dconv2.conv[0].in_channels == 256
    assert none.att2.value_conv.in_channels == 256


def test_without_cross_modal_attention_the_pose_is_ignored():
    torch.manual_seed(0)
    # Instance norm keeps activations O(1) in eval mode (BN's initial running stats would not).
    model = create_model("pona-wo-cross", "deepfashion", width=0.125, perceptual=False).eval()
    batch = random_batch(1)
    other = dict(batch, target_pose=torch.rand_like(batch["target_pose"]))
    assert torch.equal(model(batch), model(other))
    full = create_model("pona", "deepfashion", width=0.125, perceptual=False).eval()
    with torch.no_grad():  # a trained-like block: attention on, sharp pose-dependent weights
        for block in full.generator.att:
            block.gamma.fill_(1.0)
            block.query_conv.weight.mul_(100), block.key_conv.weight.mul_(100)
    assert (full(batch) - full(other)).abs().max() > 1e-4


@pytest.mark.parametrize("dataset", ["market", "deepfashion"])
def test_output_shapes_at_dataset_resolution(dataset):
    torch.manual_seed(0)
    model = create_model("pona", dataset, width=0.125, perceptual=False)
    h, w = SIZES[dataset]
    assert model(random_batch(1, (h, w))).shape == (1, 3, h, w)


def test_training_steps_reduce_losses():
    torch.manual_seed(0)
    model = create_model("pona", "market", width=0.125, perceptual=False)
    batch = random_batch(2)
    history = train_generator(model, batch, steps=10)
    assert history[-1] < 0.95 * history[0]
    assert any(block.gamma.item() != 0 for block in model.generator.att)  # the attention scale learns
    d_history = train_discriminators(model, batch, steps=6)
    assert d_history[-1] < d_history[0]


def test_bad_options():
    with pytest.raises(BenchError, match="fusion"):
        create_model("pona", "market", fusion="side")
    with pytest.raises(BenchError, match="cross-modal"):
        create_model("pona-wo-cross", "market", fusion="tail")
