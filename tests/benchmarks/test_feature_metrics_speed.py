"""Feature extractors (Inception for IS/FID/KID, AlexNet for LPIPS): channels-last + the device's batch
size against the layout and batch of before (contiguous, 50), as ratios in one run, interleaved rounds.

TIMING ONLY: the networks are the real architectures (torch-fidelity's ``inception-v3-compat``,
lpips' LPIPS v0.1 alex) at RANDOM INITIALISATION (no pretrained weights here); no value computed
here is a metric. Run on demand::

    pytest tests/benchmarks/test_feature_metrics_speed.py -q --benchmark-only -s
"""
from __future__ import annotations

from bench._torchvision_compat import import_torchvision

import_torchvision()  # before torch_fidelity and lpips

import statistics  # noqa: E402
import time  # noqa: E402

import lpips  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from bench.metrics import inception  # noqa: E402
from bench.metrics import lpips as lpips_metrics  # noqa: E402
from bench.metrics.protocol import device_batch_size  # noqa: E402

ROUNDS = 3
BEFORE_BATCH = 50  # Protocol.batch_size's value before the device rule


@pytest.fixture(scope="module")
def random_inception(tmp_path_factory):
    """torch-fidelity's Inception, randomly initialised, saved as a weights file (timing only)."""
    import torch_fidelity.feature_extractor_inceptionv3 as tf_inception

    with pytest.MonkeyPatch.context() as m:
        m.setattr(tf_inception, "load_state_dict_from_url", lambda *a, **k: {})
        m.setattr(tf_inception.FeatureExtractorInceptionV3, "load_state_dict", lambda self, state: None)
        net = tf_inception.FeatureExtractorInceptionV3(inception.INCEPTION, ["2048"])
    path = tmp_path_factory.mktemp("w") / "random-inception.pth"
    torch.save(net.state_dict(), path)
    return path


def seconds(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def interleaved(before, after, rounds=ROUNDS) -> dict:
    b, a = [], []
    for _ in range(rounds):
        b.append(seconds(before))
        a.append(seconds(after))
    return {"before_s": b, "after_s": a, "ratio_min": min(b) / min(a), "ratio_median": statistics.median(b) / statistics.median(a)}


def test_inception_channels_last_device_batch(benchmark, random_inception):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (64, 128, 64, 3), dtype=np.uint8)  # Market size; resized to 299 inside
    dataset = inception.ImageArrayDataset(images)
    run = lambda cl, batch: inception.extract_features(dataset, inception.INCEPTION, ["2048"], random_inception,  # noqa: E731
                                                      batch_size=batch, channels_last=cl)
    run(True, device_batch_size("cpu"))  # warm-up
    out = interleaved(lambda: run(False, BEFORE_BATCH), lambda: run(True, device_batch_size("cpu")))
    benchmark.pedantic(run, args=(True, device_batch_size("cpu")), rounds=1, iterations=1)
    benchmark.extra_info.update(images=len(images), note="random-init Inception: timing only", **out)
    print(f"\nInception (random init, timing only), {len(images)} images: before {out['before_s']} s, after {out['after_s']} s; "
          f"ratio min {out['ratio_min']:.2f}, median {out['ratio_median']:.2f}")


@pytest.mark.parametrize("size", [(128, 64), (256, 176)])
def test_lpips_channels_last_device_batch(benchmark, size):
    torch.manual_seed(0)
    net = lpips.LPIPS(pretrained=True, net="alex", version="0.1", pnet_rand=True, verbose=False).eval()
    fast = lpips.LPIPS(pretrained=True, net="alex", version="0.1", pnet_rand=True, verbose=False).eval()
    fast.load_state_dict(net.state_dict())
    fast = fast.to(memory_format=torch.channels_last)
    rng = np.random.default_rng(0)
    g, t = (rng.integers(0, 256, (200, *size, 3), dtype=np.uint8) for _ in range(2))
    before = lambda: lpips_metrics.lpips_scores(net, g, t, batch_size=BEFORE_BATCH, channels_last=False)  # noqa: E731
    after = lambda: lpips_metrics.lpips_scores(fast, g, t)  # noqa: E731
    assert np.abs(before() - after()).max() < 1e-5  # same scores (random-init AlexNet: not LPIPS values)
    out = interleaved(before, after)
    benchmark.pedantic(after, rounds=1, iterations=1)
    benchmark.extra_info.update(pairs=len(g), size=list(size), note="random-init AlexNet trunk: timing only", **out)
    print(f"\nLPIPS-alex (random trunk, timing only) {size}, {len(g)} pairs: before {out['before_s']} s, after {out['after_s']} s; "
          f"ratio min {out['ratio_min']:.2f}, median {out['ratio_median']:.2f}")
