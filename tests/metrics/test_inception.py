"""IS, mask-IS and FID through torch-fidelity, routed through a tiny extractor this test registers.

References are computed independently: the tiny network run directly on the
(padded / masked) images, then numpy/scipy for the formulas (improved-GAN IS
over 10 in-order splits; FID = |mu1-mu2|^2 + Tr(S1 + S2 - 2 sqrtm(S1 S2))).
"""
from __future__ import annotations

from bench._torchvision_compat import import_torchvision

import_torchvision()  # before torch_fidelity (see bench/_torchvision_compat.py)

import numpy as np  # noqa: E402
import pytest
import scipy.linalg
import scipy.special
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn
from torch_fidelity import register_feature_extractor
from torch_fidelity.feature_extractor_base import FeatureExtractorBase
from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY

from bench.data.layout import KINDS, DatasetLayout
from bench.data.masks import pg2_masks
from bench.metrics import inception
from bench.metrics.base import EvalInputs
from bench.metrics.protocol import get_protocol

TINY = "bench-test-tiny"
PAPER = get_protocol("paper")


class TinyExtractor(FeatureExtractorBase):
    """A deterministic 2-layer net: 6-d pooled features ("feat") and 12 logits."""

    def __init__(self, name, features_list, **kwargs):
        super().__init__(name, features_list)
        self.conv = nn.Conv2d(3, 6, 5, stride=4)
        self.fc = nn.Linear(6, 12)
        gen = torch.Generator().manual_seed(0)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=gen))

    def forward(self, x):
        feat = F.relu(self.conv(x.float() / 64 - 2)).mean((2, 3))
        out = {"feat": feat, "logits": self.fc(feat)}
        return tuple(out[name] for name in self.features_list)

    @staticmethod
    def get_provided_features_list():
        return "feat", "logits"

    @staticmethod
    def get_default_feature_layer_for_metric(metric):
        return {"isc": "logits", "fid": "feat"}[metric]

    @staticmethod
    def can_be_compiled():
        return False

    @staticmethod
    def get_dummy_input_for_compile():
        return torch.zeros(1, 3, 8, 8, dtype=torch.uint8)


if TINY not in FEATURE_EXTRACTORS_REGISTRY:
    register_feature_extractor(TINY, TinyExtractor)


def tiny_features(images: np.ndarray) -> dict[str, np.ndarray]:
    net = TinyExtractor(TINY, ["feat", "logits"])
    with torch.no_grad():
        feat, logits = net(torch.from_numpy(images).permute(0, 3, 1, 2))
    return {"feat": feat.double().numpy(), "logits": logits.double().numpy()}


def reference_is(logits: np.ndarray, splits: int = 10) -> tuple[float, float]:
    p = scipy.special.softmax(logits, axis=1)
    n, scores = len(p), []
    for i in range(splits):  # improved-GAN chunking, in order
        part = p[i * n // splits:(i + 1) * n // splits]
        kl = (part * (np.log(part) - np.log(part.mean(0, keepdims=True)))).sum(1)
        scores.append(np.exp(kl.mean()))
    return float(np.mean(scores)), float(np.std(scores))


def reference_fid(a: np.ndarray, b: np.ndarray) -> float:
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * scipy.linalg.sqrtm(s1 @ s2).real))


def random_images(rng, n, size):
    # smooth blobs plus noise, so the features vary between images
    base = rng.integers(0, 256, (n, size[0] // 8, size[1] // 8, 3)).repeat(8, 1).repeat(8, 2)
    return np.clip(base + rng.integers(-30, 30, base.shape), 0, 255).astype(np.uint8)


def random_keypoints(rng, n, size):
    kp = np.stack([rng.integers(0, size[0], (n, 18)), rng.integers(0, size[1], (n, 18))], -1)
    kp[rng.random((n, 18)) < 0.2] = -1
    return kp


def make_inputs(root, kind="market", n=53, n_targets=20, seed=0, **extra) -> EvalInputs:
    rng = np.random.default_rng(seed)
    size = KINDS[kind].image_size
    unique = random_images(rng, n_targets, size)
    return EvalInputs(
        generated=random_images(rng, n, size),
        targets=unique[np.arange(n) % n_targets],
        target_keypoints=random_keypoints(rng, n, size),
        pairs=[(f"s{i}.jpg", f"t{i % n_targets:03d}.jpg") for i in range(n)],
        layout=DatasetLayout(root, KINDS[kind]),
        cache_dir=str(root / "cache"),
        **extra,
    )


def write_train_images(root, images):
    (root / "train").mkdir(parents=True, exist_ok=True)
    for i, image in enumerate(images):
        Image.fromarray(image).save(root / "train" / f"{i:04d}_c1s1_000000_00.png")


@pytest.fixture
def empty_hub(tmp_path, monkeypatch):
    """No weights anywhere: an empty torch hub dir and no BENCH_WEIGHTS_DIR."""
    monkeypatch.setattr(torch.hub, "_hub_dir", torch.hub._hub_dir)  # restored after the test
    torch.hub.set_dir(str(tmp_path / "hub"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv("BENCH_WEIGHTS_DIR", raising=False)
    return tmp_path / "hub"


def test_is_matches_numpy_reference_over_ten_ordered_splits(tmp_path):
    inputs = make_inputs(tmp_path)
    result = inception.inception_score(inputs, PAPER, extractor=TINY)
    mean, std = reference_is(tiny_features(inputs.generated)["logits"])
    assert result.value == pytest.approx(mean, rel=1e-6)
    assert result.details["std"] == pytest.approx(std, rel=1e-5)
    assert result.details["splits"] == 10 and result.per_pair is None
    # a shuffled split order (torch-fidelity's default) would give another value
    shuffled = tiny_features(inputs.generated)["logits"][np.random.RandomState(2020).permutation(53)]
    assert reference_is(shuffled)[0] != pytest.approx(mean, rel=1e-6)


def test_is_pads_deepfashion_with_40px_white(tmp_path):
    inputs = make_inputs(tmp_path, kind="deepfashion", n=20)
    padded = np.pad(inputs.generated, ((0, 0), (0, 0), (40, 40), (0, 0)), constant_values=255)
    assert padded.shape[1:3] == (256, 256)
    result = inception.inception_score(inputs, PAPER, extractor=TINY)
    assert result.value == pytest.approx(reference_is(tiny_features(padded)["logits"])[0], rel=1e-6)
    unpadded = inception.inception_score(inputs, PAPER.replace(fashion_geometry="gfla"), extractor=TINY)  # gfla pads nothing
    assert unpadded.value == pytest.approx(reference_is(tiny_features(inputs.generated)["logits"])[0], rel=1e-6)
    assert unpadded.value != pytest.approx(result.value, rel=1e-6)


def test_mask_is_scores_masked_generated_images_only(tmp_path):
    inputs = make_inputs(tmp_path)
    masked = inputs.generated * pg2_masks(inputs.target_keypoints, (128, 64))[..., None]
    result = inception.mask_inception_score(inputs, PAPER, extractor=TINY)
    assert result.value == pytest.approx(reference_is(tiny_features(masked.astype(np.uint8))["logits"])[0], rel=1e-6)
    inputs.targets = inputs.targets[::-1].copy()  # the targets play no part
    assert inception.mask_inception_score(inputs, PAPER, extractor=TINY).value == result.value


def test_is_needs_ten_images(tmp_path):
    result = inception.inception_score(make_inputs(tmp_path, n=9), PAPER, extractor=TINY)
    assert result.value is None and "10" in result.reason


def test_fid_against_training_set_matches_scipy_and_is_cached(tmp_path, monkeypatch):
    inputs = make_inputs(tmp_path)
    train = random_images(np.random.default_rng(1), 30, (128, 64))
    write_train_images(tmp_path, train)
    first = inception.fid(inputs, PAPER, extractor=TINY)
    expected = reference_fid(tiny_features(inputs.generated)["feat"], tiny_features(train)["feat"])
    assert first.value == pytest.approx(expected, rel=1e-5)
    assert first.details["n_reference"] == 30 and first.details["cache_hit"] is False
    assert first.details["cache"].startswith(str(tmp_path / "cache" / "fid"))

    # second call: statistics come from the cache, the training images are not read again
    monkeypatch.setattr(inception.ImageFileDataset, "__getitem__", lambda self, i: pytest.fail("recomputed"))
    second = inception.fid(inputs, PAPER, extractor=TINY)
    assert second.details["cache_hit"] is True and second.value == first.value
    monkeypatch.undo()

    # a changed training set is a different cache key
    train[0] = 255 - train[0]
    write_train_images(tmp_path, train[:1])
    third = inception.fid(inputs, PAPER, extractor=TINY)
    assert third.details["cache_hit"] is False and third.details["cache"] != first.details["cache"]
    expected = reference_fid(tiny_features(inputs.generated)["feat"], tiny_features(train)["feat"])
    assert third.value == pytest.approx(expected, rel=1e-5)


def test_fid_against_distinct_test_targets(tmp_path):
    inputs = make_inputs(tmp_path)
    result = inception.fid(inputs, PAPER.replace(fid_reference="test-targets"), extractor=TINY)
    distinct = inputs.targets[:20]  # t000..t019, one image each
    expected = reference_fid(tiny_features(inputs.generated)["feat"], tiny_features(distinct)["feat"])
    assert result.value == pytest.approx(expected, rel=1e-5)
    assert result.details["n_reference"] == 20


def test_fid_without_training_images_is_unavailable(tmp_path):
    result = inception.fid(make_inputs(tmp_path), PAPER, extractor=TINY)
    assert result.value is None and "no training images" in result.reason


def test_is_and_fid_share_one_pass_over_generated_images(tmp_path, monkeypatch):
    inputs = make_inputs(tmp_path, n=20)
    calls = []
    real = inception.extract_features
    monkeypatch.setattr(inception, "extract_features", lambda dataset, *a, **k: calls.append(len(dataset)) or real(dataset, *a, **k))
    inception.inception_score(inputs, PAPER, extractor=TINY)
    inception.fid(inputs, PAPER.replace(fid_reference="test-targets"), extractor=TINY)
    assert calls == [20, 20]  # generated once (both layers), distinct targets once


@pytest.mark.parametrize("metric", ["inception_score", "mask_inception_score", "fid"])
def test_missing_inception_weights_make_the_metric_unavailable(tmp_path, empty_hub, monkeypatch, metric):
    monkeypatch.setattr(inception, "create_feature_extractor", lambda *a, **k: pytest.fail("would download"))
    write_train_images(tmp_path, random_images(np.random.default_rng(1), 3, (128, 64)))
    result = getattr(inception, metric)(make_inputs(tmp_path), PAPER)
    assert result.value is None and result.per_pair is None
    assert "weights-inception-2015-12-05-6726825d.pth" in result.reason
    assert str(empty_hub / "checkpoints") in result.reason


def test_local_inception_weights_are_handed_to_torch_fidelity(tmp_path, empty_hub, monkeypatch, trust_weights):
    weights_dir = tmp_path / "w"
    weights_dir.mkdir()
    (weights_dir / "weights-inception-2015-12-05-6726825d.pth").write_bytes(b"")
    trust_weights("inception-fidelity", weights_dir / "weights-inception-2015-12-05-6726825d.pth")
    seen = {}

    def fake_create(name, layers, cuda, **kwargs):
        seen.update(name=name, layers=layers, cuda=cuda, **kwargs)
        raise RuntimeError("stop here")

    monkeypatch.setattr(inception, "create_feature_extractor", fake_create)
    with pytest.raises(RuntimeError, match="stop here"):
        inception.inception_score(make_inputs(tmp_path, weights_dir=str(weights_dir)), PAPER)
    assert seen["feature_extractor_weights_path"] == str(weights_dir / "weights-inception-2015-12-05-6726825d.pth")
    assert seen["name"] == "inception-v3-compat" and seen["cuda"] is False
    assert seen["layers"] == ["logits_unbiased", "2048"]


def test_registered_with_metadata():
    from bench.registry import METRICS

    assert METRICS.get("is").meta.higher_is_better and METRICS.get("mask-is").meta.higher_is_better
    assert not METRICS.get("fid").meta.higher_is_better
    assert not any(METRICS.get(n).meta.per_pair for n in ("is", "mask-is", "fid"))


def test_real_inception_runs_from_a_local_file_without_download(tmp_path, empty_hub, monkeypatch, trust_weights):
    """The real torch-fidelity Inception, with random weights saved under the real name (wiring only)."""
    import torch_fidelity.feature_extractor_inceptionv3 as tf_inception

    with monkeypatch.context() as m:  # build it once without weights, to get a state dict of the right keys
        m.setattr(tf_inception, "load_state_dict_from_url", lambda *a, **k: {})
        m.setattr(tf_inception.FeatureExtractorInceptionV3, "load_state_dict", lambda self, state: None)
        net = tf_inception.FeatureExtractorInceptionV3(inception.INCEPTION, ["2048"])
    weights_dir = tmp_path / "w"
    weights_dir.mkdir()
    torch.save(net.state_dict(), weights_dir / "weights-inception-2015-12-05-6726825d.pth")
    trust_weights("inception-fidelity", weights_dir / "weights-inception-2015-12-05-6726825d.pth")
    monkeypatch.setattr(tf_inception, "load_state_dict_from_url", lambda *a, **k: pytest.fail("would download"))

    inputs = make_inputs(tmp_path, n=12, weights_dir=str(weights_dir))
    result = inception.inception_score(inputs, PAPER)
    assert result.details["weights"] == str(weights_dir / "weights-inception-2015-12-05-6726825d.pth")
    features = inception.generated_features(inputs, PAPER, inception.INCEPTION, weights_dir / "weights-inception-2015-12-05-6726825d.pth")
    assert features["logits_unbiased"].shape == (12, 1008) and features["2048"].shape == (12, 2048)
    assert result.value == pytest.approx(reference_is(features["logits_unbiased"].double().numpy())[0], rel=1e-9)


def test_fashion_padding_is_white_for_images_and_black_for_masked_images():
    from bench.metrics.inception import ImageArrayDataset

    images = np.full((1, 4, 3, 3), 100, dtype=np.uint8)
    mask = np.ones((1, 4, 3), dtype=bool)
    plain = ImageArrayDataset(images, pad=2)[0]
    masked = ImageArrayDataset(images, masks=mask, pad=2)[0]
    assert plain.shape == masked.shape == (3, 4, 7)
    assert (plain[:, :, :2] == 255).all() and (plain[:, :, 2:5] == 100).all()
    assert (masked[:, :, :2] == 0).all() and (masked[:, :, 2:5] == 100).all()
