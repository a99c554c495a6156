from __future__ import annotations

import math

import pytest
import torch

from bench._torchvision_compat import import_torchvision
from bench.train.losses import (
    VGG19_LAYERS,
    GANLoss,
    ImagePool,
    PerceptualLoss,
    StyleLoss,
    VGG19Features,
    gram_matrix,
    l1_loss,
)
from bench.weights import WeightsMissing


def test_l1_loss_is_mean_absolute_error():
    a = torch.tensor([[1.0, -2.0], [0.5, 3.0]])
    b = torch.tensor([[0.0, 0.0], [1.0, 1.0]])
    assert l1_loss(a, b).item() == pytest.approx((1 + 2 + 0.5 + 2) / 4)


def test_lsgan_is_mean_squared_error_to_the_label():
    pred = torch.tensor([[0.5, 2.0]])
    loss = GANLoss("lsgan")
    assert loss(pred, True).item() == pytest.approx((0.25 + 1.0) / 2)
    assert loss(pred, False).item() == pytest.approx((0.25 + 4.0) / 2)


def test_vanilla_gan_is_binary_cross_entropy():
    logits = torch.tensor([0.0, math.log(3.0)])  # sigmoid: 0.5, 0.75
    real = -(math.log(0.5) + math.log(0.75)) / 2
    fake = -(math.log(0.5) + math.log(0.25)) / 2
    with_logits = GANLoss("vanilla")
    on_probabilities = GANLoss("vanilla", with_logits=False)
    assert with_logits(logits, True).item() == pytest.approx(real)
    assert with_logits(logits, False).item() == pytest.approx(fake)
    assert on_probabilities(torch.sigmoid(logits), True).item() == pytest.approx(real)
    assert on_probabilities(torch.sigmoid(logits), False).item() == pytest.approx(fake)
    assert on_probabilities.needs_sigmoid and not with_logits.needs_sigmoid and not GANLoss("lsgan").needs_sigmoid


def test_gan_loss_rejects_unknown_mode():
    with pytest.raises(ValueError, match="wgan"):
        GANLoss("wgan")


def test_gram_matrix_by_hand():
    f = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).view(1, 2, 1, 2)  # C=2, H=1, W=2
    expected = torch.tensor([[5.0, 11.0], [11.0, 25.0]]) / 4
    assert torch.allclose(gram_matrix(f)[0], expected)


def test_image_pool_size_zero_passes_through():
    pool = ImagePool(0)
    x = torch.randn(3, 3, 4, 4)
    assert pool.query(x) is x and len(pool) == 0


def _draws(seed, n):
    """Replays the pool's draws: (p, slot) per image once the pool is full."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        p = torch.rand((), generator=g).item()
        out.append((p, int(torch.randint(2, (), generator=g).item()) if p > 0.5 else None))
    return out


def test_image_pool_fills_then_swaps_half_the_time():
    pool = ImagePool(2, generator=torch.Generator().manual_seed(3))
    images = [torch.full((1, 1, 2, 2), float(i)) for i in range(12)]
    # First two images fill the pool and come back unchanged.
    assert torch.equal(pool.query(torch.cat(images[:2])), torch.cat(images[:2]))
    stored = [0.0, 1.0]
    returned_old = 0
    for i, (p, slot) in zip(range(2, 12), _draws(3, 10)):
        out = pool.query(images[i]).flatten()[0].item()
        if p > 0.5:
            assert out == stored[slot]
            stored[slot] = float(i)
            returned_old += 1
        else:
            assert out == float(i)
        assert sorted(img.flatten()[0].item() for img in pool.images) == sorted(stored)
    assert 0 < returned_old < 10  # both branches exercised with this seed


def test_image_pool_state_round_trips_through_state_dict():
    pool = ImagePool(3)
    pool.query(torch.randn(2, 3, 4, 4))
    restored = ImagePool(3)
    restored.load_state_dict(pool.state_dict())
    assert len(restored) == 2 and all(torch.equal(a, b) for a, b in zip(pool.images, restored.images))
    empty = ImagePool(3)
    empty.load_state_dict(ImagePool(3).state_dict())
    assert len(empty) == 0


# ------------------------------------------------------------------ VGG19 loading


@pytest.fixture(scope="module")
def vgg_file(tmp_path_factory):
    """A vgg19 state dict with torchvision's key names and random weights (tests the loader only)."""
    import_torchvision()
    from torchvision.models.vgg import cfgs, make_layers

    torch.manual_seed(0)
    features = make_layers(cfgs["E"])
    path = tmp_path_factory.mktemp("weights") / "vgg19-dcbb9e9d.pth"
    torch.save({f"features.{k}": v for k, v in features.state_dict().items()}, path)
    return path, features.eval()


def test_vgg_layer_names_follow_torchvision_indices():
    assert VGG19_LAYERS[:5] == ["conv1_1", "relu1_1", "conv1_2", "relu1_2", "pool1"]
    assert VGG19_LAYERS.index("relu5_4") == 35 and len(VGG19_LAYERS) == 37


def test_vgg_features_load_the_file_and_normalise(vgg_file):
    path, reference = vgg_file
    vgg = VGG19Features(("relu1_2", "relu2_2"), weights_path=path)
    assert len(vgg.features) == VGG19_LAYERS.index("relu2_2") + 1
    assert not any(p.requires_grad for p in vgg.parameters())
    x = torch.rand(2, 3, 16, 12) * 2 - 1
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    with torch.no_grad():
        expected = reference[:4](((x + 1) / 2 - mean) / std)
        raw = reference[:4](x)
    out = vgg(x)
    assert set(out) == {"relu1_2", "relu2_2"}
    assert torch.allclose(out["relu1_2"], expected, atol=1e-5)
    assert torch.allclose(VGG19Features(("relu1_2",), weights_path=path, normalize="none")(x)["relu1_2"], raw, atol=1e-5)


def test_vgg_found_through_weights_dir(vgg_file, trust_weights):
    path, _ = vgg_file
    trust_weights("vgg19", path)
    assert VGG19Features(("relu1_1",), weights_dir=path.parent).weights_path == path


def test_perceptual_loss_is_l1_of_relu1_2_features(vgg_file):
    path, reference = vgg_file
    loss = PerceptualLoss("relu1_2", weights_path=path)
    fake = (torch.rand(1, 3, 8, 8) * 2 - 1).requires_grad_()
    target = torch.rand(1, 3, 8, 8) * 2 - 1
    value = loss(fake, target)
    norm = lambda t: ((t + 1) / 2 - loss.vgg.mean) / loss.vgg.std  # noqa: E731
    with torch.no_grad():
        expected = (reference[:4](norm(fake)) - reference[:4](norm(target))).abs().mean()
    assert value.item() == pytest.approx(expected.item(), rel=1e-5)
    value.backward()
    assert fake.grad is not None and fake.grad.abs().sum() > 0
    assert loss(target, target).item() == 0.0


def test_style_loss_sums_gram_l1_over_layers(vgg_file):
    path, _ = vgg_file
    shared = VGG19Features(("relu1_2", "relu2_2"), weights_path=path)
    style = StyleLoss(("relu1_2", "relu2_2"), features=shared)
    fake, target = torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8)
    f, t = shared(fake), shared(target)
    expected = sum((gram_matrix(f[k]) - gram_matrix(t[k])).abs().mean() for k in ("relu1_2", "relu2_2"))
    assert style(fake, target).item() == pytest.approx(expected.item(), rel=1e-5)
    with pytest.raises(ValueError, match="relu3_1"):
        StyleLoss(("relu3_1",), features=shared)


def test_missing_vgg_weights_raise_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.delenv("BENCH_WEIGHTS_DIR", raising=False)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    with pytest.raises(WeightsMissing, match="vgg19-dcbb9e9d.pth"):
        PerceptualLoss(weights_dir=tmp_path)


def test_wrong_weights_file_is_named(tmp_path):
    path = tmp_path / "not-vgg.pth"
    torch.save({"conv.weight": torch.zeros(1)}, path)
    with pytest.raises(ValueError, match="not-vgg.pth"):
        VGG19Features(weights_path=path)
