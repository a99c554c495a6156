"""FID conventions and KID.

- gfla-script FID (bench/metrics/fid_gfla.py) against a hand computation of GFLA
  script/metrics.py: batches of 64 with the last partial batch dropped, np.cov,
  scipy sqrtm; features from a small randomly initialised network registered here
  (not Inception: no number from it is a real FID).
- KID against torch-fidelity's own ``calculate_metrics(kid=True)`` on the tiny
  extractor test_inception.py registers, and against a numpy hand computation of
  the unbiased MMD^2 with the polynomial kernel (x.y / d + 1)^3.
- FID of DeepFashion is not padded in the patn geometry (no paper pads it).
"""
from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch
from PIL import Image
from test_inception import (TINY, empty_hub, make_inputs, random_images, reference_fid,  # noqa: F401 (fixture)
                            tiny_features, write_train_images)
from torch import nn

from bench.metrics import fid_gfla, inception
from bench.metrics.protocol import get_protocol

GFLA = get_protocol("gfla")
PAPER = get_protocol("paper")


class TinyGflaNet(nn.Module):
    """A randomly initialised stand-in for the gfla-script extractor: GFLA's input map, then a small conv net (8-d)."""

    def __init__(self):
        super().__init__()
        gen = torch.Generator().manual_seed(3)
        self.conv = nn.Conv2d(3, 8, 7, stride=8)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=gen) * 0.2)

    def forward(self, x):
        return torch.relu(self.conv(fid_gfla.preprocess(x))).mean((2, 3))


def hand_features(images: np.ndarray, net: nn.Module) -> np.ndarray:
    with torch.no_grad():
        return net(torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255).double().numpy()


def hand_fid(a: np.ndarray, b: np.ndarray) -> float:
    mu1, mu2, s1, s2 = a.mean(0), b.mean(0), np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(scipy.linalg.sqrtm(s1 @ s2).real))


def test_batch_rule_of_the_script():
    assert fid_gfla.used_count(70) == (64, 64)  # one full batch; the other 6 are dropped
    assert fid_gfla.used_count(130) == (64, 128)
    assert fid_gfla.used_count(30) == (30, 30)  # batch_size > N: batch = N, nothing dropped
    assert fid_gfla.used_count(64) == (64, 64)


def test_input_map_by_hand():
    x = torch.full((1, 3, 10, 6), 0.25)
    y = fid_gfla.preprocess(x)
    assert y.shape == (1, 3, 299, 299)
    expected = [0.25 * s / 0.5 + (m - 0.5) / 0.5 for m, s in zip((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))]
    np.testing.assert_allclose(y[0, :, 100, 100].numpy(), expected, rtol=1e-6)


def test_gfla_fid_drops_the_last_partial_batch_against_the_training_set(tmp_path):
    net = TinyGflaNet().eval()
    inputs = make_inputs(tmp_path, n=70)  # 70 generated: the first 64 count
    train = random_images(np.random.default_rng(4), 66, (128, 64)) // 2  # darker: a clear distance
    write_train_images(tmp_path, train)  # sorted names = this order; the first 64 count
    result = inception.fid(inputs, GFLA, network=net)
    expected = hand_fid(hand_features(inputs.generated[:64], net), hand_features(train[:64], net))
    assert result.value == pytest.approx(expected, rel=1e-6)  # float32 network, batched differently
    d = result.details
    assert (d["convention"], d["n_generated_used"], d["n_reference_used"], d["n_reference"]) == ("gfla-script", 64, 64, 66)
    every = hand_fid(hand_features(inputs.generated, net), hand_features(train, net))
    assert every != pytest.approx(expected, rel=1e-6)  # dropping the images matters here


def test_gfla_fid_resizes_deepfashion_and_its_reference_to_256(tmp_path):
    net = TinyGflaNet().eval()
    inputs = make_inputs(tmp_path, kind="deepfashion", n=12, n_targets=12)
    # inputs as bench evaluate builds them in the gfla geometry: already 256x256
    from bench.metrics.geometry import resize_images

    inputs.generated, inputs.targets = resize_images(inputs.generated, (256, 256)), resize_images(inputs.targets, (256, 256))
    train = random_images(np.random.default_rng(5), 10, (256, 176)) // 2  # darker: a clear distance
    (tmp_path / "train").mkdir()
    for i, image in enumerate(train):
        Image.fromarray(image).save(tmp_path / "train" / f"t{i:03d}.png")
    result = inception.fid(inputs, GFLA, network=net)
    expected = hand_fid(hand_features(inputs.generated, net), hand_features(resize_images(train, (256, 256)), net))
    assert result.value == pytest.approx(expected, rel=1e-6) and result.details["geometry"] == "gfla"


def test_gfla_fid_without_its_weights_is_unavailable(tmp_path, empty_hub):
    write_train_images(tmp_path, random_images(np.random.default_rng(1), 3, (128, 64)))
    result = inception.fid(make_inputs(tmp_path), GFLA)
    assert result.value is None and "inception_v3_google-0cc3c7bd.pth" in result.reason


def test_torchvision_inception_runs_from_a_local_file(tmp_path, empty_hub, trust_weights):
    """The real extractor's wiring, with random weights saved under the real name: 2048-d features, no download."""
    from bench._torchvision_compat import import_torchvision

    state = import_torchvision().models.inception_v3(weights=None, aux_logits=True, init_weights=False).state_dict()
    path = tmp_path / "inception_v3_google-0cc3c7bd.pth"
    torch.save(state, path)
    trust_weights("inception-torchvision", path)
    net = fid_gfla.load_network(path)
    with torch.no_grad():
        features = net(torch.rand(2, 3, 128, 64))
    assert features.shape == (2, 2048)
    torch.save({"fc.weight": torch.zeros(1)}, tmp_path / "bad.pth")
    with pytest.raises(Exception, match="not a torchvision Inception v3 checkpoint"):
        fid_gfla.load_network(tmp_path / "bad.pth")


def test_fid_is_not_padded_on_deepfashion(tmp_path):
    inputs = make_inputs(tmp_path, kind="deepfashion", n=20, n_targets=20)
    result = inception.fid(inputs, PAPER.replace(fid_reference="test-targets"), extractor=TINY)
    expected = reference_fid(tiny_features(inputs.generated)["feat"], tiny_features(inputs.targets)["feat"])
    assert result.value == pytest.approx(expected, rel=1e-5) and result.details["pad"] == 0
    # while IS of the same images is padded (PATN addBounding), in a pass of its own
    assert inception.inception_score(inputs, PAPER, extractor=TINY).details["pad"] == 40


# ----------------------------------------------------------------------------- KID


def hand_kid(a: np.ndarray, b: np.ndarray, subsets: int, size: int, seed: int) -> float:
    """Unbiased MMD^2 with k(x, y) = (x.y / d + 1)^3, averaged over subsets drawn as torch-fidelity draws them."""
    rng, d, values = np.random.RandomState(seed), a.shape[1], []
    for _ in range(subsets):
        x, y = a[rng.choice(len(a), size, replace=False)], b[rng.choice(len(b), size, replace=False)]
        kxx, kyy, kxy = (x @ x.T / d + 1) ** 3, (y @ y.T / d + 1) ** 3, (x @ y.T / d + 1) ** 3
        m = size
        values.append((kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
                      - 2 * kxy.mean())
    return float(np.mean(values))


def test_kid_matches_torch_fidelity_and_a_hand_computation(tmp_path):
    from torch_fidelity import calculate_metrics

    inputs = make_inputs(tmp_path, n=30, n_targets=30)
    train = random_images(np.random.default_rng(6), 25, (128, 64))
    write_train_images(tmp_path, train)
    result = inception.kid(inputs, PAPER, extractor=TINY)
    assert result.details["subset_size"] == 25  # min(1000, 30 generated, 25 reference)
    theirs = calculate_metrics(
        input1=inception.ImageArrayDataset(inputs.generated), input2=inception.ImageArrayDataset(train), kid=True,
        feature_extractor=TINY, feature_layer_kid="feat", kid_subset_size=25, cuda=False, verbose=False,
        cache=False, save_cpu_ram=True, batch_size=50)
    # our extractor runs channels-last: features within an ulp of torch-fidelity's loop (tests/metrics/
    # test_feature_batching.py); this tiny net's large, cancelling kernel sums amplify that to ~3e-5
    assert result.value == pytest.approx(theirs["kernel_inception_distance_mean"], rel=1e-4)
    assert result.details["std"] == pytest.approx(theirs["kernel_inception_distance_std"], rel=1e-4)
    mine = hand_kid(tiny_features(inputs.generated)["feat"], tiny_features(train)["feat"], 100, 25, 2020)
    assert result.value == pytest.approx(mine, rel=1e-4)  # float32 features in torch-fidelity, float64 here


def test_kid_without_weights_or_reference_is_unavailable(tmp_path, empty_hub):
    assert "weights-inception-2015-12-05" in inception.kid(make_inputs(tmp_path), PAPER).reason
    assert "no training images" in inception.kid(make_inputs(tmp_path), PAPER, extractor=TINY).reason
