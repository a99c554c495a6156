"""Feature extractors batched channels-last, batch size per device (bench/metrics/protocol.py).

References: torch-fidelity's own ``get_featuresdict_from_dataset`` loop (the code our loop replaces)
and lpips called pair by pair.
"""
from __future__ import annotations

from bench._torchvision_compat import import_torchvision

import_torchvision()  # before torch_fidelity and lpips (see bench/_torchvision_compat.py)

import lpips  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from test_inception import TINY, TinyExtractor, random_images  # noqa: E402
from torch_fidelity import register_feature_extractor  # noqa: E402
from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY  # noqa: E402

from bench.errors import BenchError  # noqa: E402
from bench.metrics import inception  # noqa: E402
from bench.metrics import lpips as lpips_metrics  # noqa: E402
from bench.metrics.protocol import (  # noqa: E402
    CPU_BATCH_PIXELS, FEATURE_BATCH, check_protocol, device_batch_size, feature_batch_size, get_protocol)

PAPER = get_protocol("paper")
SPY = "bench-test-spy"
SEEN: list[dict] = []


class SpyExtractor(TinyExtractor):
    """The tiny net, noting the size, device and layout of every batch and of its weights."""

    def forward(self, x):
        SEEN.append({"n": len(x), "device": x.device.type, "channels_last": x.is_contiguous(memory_format=torch.channels_last),
                     "weights_channels_last": self.conv.weight.is_contiguous(memory_format=torch.channels_last)})
        return super().forward(x)


if SPY not in FEATURE_EXTRACTORS_REGISTRY:
    register_feature_extractor(SPY, SpyExtractor)


def fidelity_loop(dataset, layers, batch_size=50):
    net = inception.create_feature_extractor(TINY, layers, cuda=False)
    return inception._fidelity("utils").get_featuresdict_from_dataset(dataset, net, batch_size, False, save_cpu_ram=True,
                                                                       verbose=False)


def test_contiguous_loop_is_torch_fidelity_and_channels_last_is_within_an_ulp():
    dataset = inception.ImageArrayDataset(random_images(np.random.default_rng(3), 37, (128, 64)))
    for batch in (1, 16, 50):
        reference = fidelity_loop(dataset, ["feat", "logits"], batch)
        plain = inception.extract_features(dataset, TINY, ["feat", "logits"], batch_size=batch, channels_last=False)
        assert all(torch.equal(plain[k], reference[k]) for k in reference), batch
        fast = inception.extract_features(dataset, TINY, ["feat", "logits"], batch_size=batch)
        for k in reference:
            scale = reference[k].abs().max()
            assert fast[k].shape == reference[k].shape and (fast[k] - reference[k]).abs().max() <= 1e-6 * scale, (batch, k)


def test_the_device_rule_batches_channels_last_images_with_channels_last_weights():
    SEEN.clear()
    dataset = inception.ImageArrayDataset(random_images(np.random.default_rng(4), 2 * FEATURE_BATCH["cpu"] + 3, (128, 64)))
    inception.extract_features(dataset, SPY, ["feat"], device="cpu")
    assert [s["n"] for s in SEEN] == [FEATURE_BATCH["cpu"], FEATURE_BATCH["cpu"], 3]
    assert all(s["device"] == "cpu" and s["channels_last"] and s["weights_channels_last"] for s in SEEN)
    SEEN.clear()
    inception.extract_features(dataset, SPY, ["feat"], batch_size=20, channels_last=False)
    assert [s["n"] for s in SEEN] == [20, 15] and not any(s["channels_last"] or s["weights_channels_last"] for s in SEEN)


def test_batch_size_per_device_and_protocol_override():
    assert feature_batch_size(PAPER, "cpu") == FEATURE_BATCH["cpu"]
    # CPU: 16 images of 256x176 (or Inception's 299x299), the same pixels per batch for smaller ones
    assert CPU_BATCH_PIXELS == 16 * 256 * 176 and device_batch_size("cpu", 256 * 176) == 16
    assert device_batch_size("cpu", 128 * 64) == 88 and device_batch_size("cpu", 299 * 299) == 16
    assert device_batch_size("cuda", 128 * 64) == FEATURE_BATCH["cuda"]  # the CUDA rule ignores the size
    assert feature_batch_size(PAPER, "cuda") == feature_batch_size(PAPER, "cuda:1") == FEATURE_BATCH["cuda"]
    assert feature_batch_size(PAPER.replace(batch_size=7), "cuda:0") == 7
    for bad in (0, -3, 2.5, True):
        with pytest.raises(BenchError, match="batch_size must be a positive integer"):
            check_protocol(PAPER.replace(batch_size=bad))


def test_is_through_the_device_rule_matches_an_explicit_batch(tmp_path):
    from test_inception import make_inputs

    inputs = make_inputs(tmp_path, n=41)
    rule = inception.inception_score(inputs, PAPER, extractor=TINY)
    explicit = inception.inception_score(make_inputs(tmp_path, n=41), PAPER.replace(batch_size=5), extractor=TINY)
    assert rule.value == pytest.approx(explicit.value, rel=1e-6)


@pytest.fixture(scope="module")
def network():
    torch.manual_seed(0)
    return lpips.LPIPS(pretrained=True, net="alex", version="0.1", pnet_rand=True, verbose=False).eval()


def test_lpips_channels_last_in_device_batches_equals_lpips_pair_by_pair(network):
    rng = np.random.default_rng(5)
    n = device_batch_size("cpu", 128 * 64) + 5  # one full batch and a partial one
    generated, targets = (rng.integers(0, 256, (n, 128, 64, 3), dtype=np.uint8) for _ in range(2))
    fast_net = lpips.LPIPS(pretrained=True, net="alex", version="0.1", pnet_rand=True, verbose=False).eval()
    fast_net.load_state_dict(network.state_dict())
    fast_net = fast_net.to(memory_format=torch.channels_last)
    ours = lpips_metrics.lpips_scores(fast_net, generated, targets)
    with torch.no_grad():
        pairwise = np.array([network(lpips_metrics.to_signed(generated[i:i + 1]), lpips_metrics.to_signed(targets[i:i + 1])).item()
                             for i in range(n)])
    assert ours.shape == (n,) and np.abs(ours - pairwise).max() <= 1e-6 * np.abs(pairwise).max()
