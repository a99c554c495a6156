"""LPIPS / mask-LPIPS wiring against the lpips module called pair by pair.

The network is lpips' own LPIPS v0.1 (alex) with its shipped linear layers and a
random AlexNet trunk (``pnet_rand=True``: nothing is downloaded).
"""
from __future__ import annotations

from bench._torchvision_compat import import_torchvision

tv = import_torchvision()  # before lpips (see bench/_torchvision_compat.py)

import lpips  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from bench.data.layout import KINDS, DatasetLayout  # noqa: E402
from bench.data.masks import pg2_mask  # noqa: E402
from bench.metrics import lpips as lpips_metrics  # noqa: E402
from bench.metrics.base import EvalInputs  # noqa: E402
from bench.metrics.protocol import get_protocol  # noqa: E402

PROTOCOL = get_protocol("paper").replace(batch_size=3)  # 7 pairs: batches of 3, 3, 1
ALEXNET = "alexnet-owt-7be5be79.pth"


@pytest.fixture(scope="module")
def network():
    torch.manual_seed(0)
    return lpips.LPIPS(pretrained=True, net="alex", version="0.1", pnet_rand=True, verbose=False).eval()


@pytest.fixture
def inputs(tmp_path):
    rng = np.random.default_rng(0)
    n, (h, w) = 7, KINDS["market"].image_size
    kp = np.stack([rng.integers(10, h - 10, (n, 18)), rng.integers(5, w - 5, (n, 18))], -1)
    kp[rng.random((n, 18)) < 0.2] = -1
    return EvalInputs(
        generated=rng.integers(0, 256, (n, h, w, 3), dtype=np.uint8),
        targets=rng.integers(0, 256, (n, h, w, 3), dtype=np.uint8),
        target_keypoints=kp,
        pairs=[(f"a{i}.jpg", f"b{i}.jpg") for i in range(n)],
        layout=DatasetLayout(tmp_path, KINDS["market"]),
    )


@pytest.fixture
def empty_hub(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "_hub_dir", torch.hub._hub_dir)  # restored after the test
    torch.hub.set_dir(str(tmp_path / "hub"))
    monkeypatch.delenv("BENCH_WEIGHTS_DIR", raising=False)
    return tmp_path / "hub"


def signed(image: np.ndarray) -> torch.Tensor:
    return torch.tensor(image.transpose(2, 0, 1)[None], dtype=torch.float64).float() / 127.5 - 1


def one_by_one(net, generated, targets, masks=None) -> np.ndarray:
    out = []
    with torch.no_grad():
        for i in range(len(generated)):
            x, y = signed(generated[i]), signed(targets[i])
            if masks is not None:
                m = torch.tensor(masks[i], dtype=torch.float32)
                x, y = x * m, y * m
            out.append(net(x, y).item())
    return np.array(out)


def test_lpips_batched_equals_pair_by_pair(inputs, network):
    result = lpips_metrics.lpips_metric(inputs, PROTOCOL, network=network)
    expected = one_by_one(network, inputs.generated, inputs.targets)
    np.testing.assert_allclose(result.per_pair, expected, rtol=1e-5, atol=1e-6)
    assert result.value == pytest.approx(expected.mean(), rel=1e-5)
    assert result.per_pair.shape == (7,) and len(set(np.round(expected, 6))) == 7


def test_mask_lpips_masks_both_images_in_signed_space(inputs, network):
    result = lpips_metrics.mask_lpips_metric(inputs, PROTOCOL, network=network)
    masks = [pg2_mask(kp, (128, 64)) for kp in inputs.target_keypoints]
    expected = one_by_one(network, inputs.generated, inputs.targets, masks)
    np.testing.assert_allclose(result.per_pair, expected, rtol=1e-5, atol=1e-6)
    # background is 0 in [-1, 1] (grey), not black: masking in uint8 space differs
    black = [(img * m[..., None]).astype(np.uint8) for img, m in zip(inputs.generated, masks)]
    black_t = [(img * m[..., None]).astype(np.uint8) for img, m in zip(inputs.targets, masks)]
    assert not np.allclose(one_by_one(network, black, black_t), expected, rtol=1e-3)


def test_network_loads_the_local_alexnet_file(tmp_path, network):
    torch.manual_seed(1)
    features = tv.models.alexnet().features
    path = tmp_path / ALEXNET
    torch.save({f"features.{k}": v for k, v in features.state_dict().items()}, path)
    net = lpips_metrics.build_network(path)
    for index in (0, 3, 6, 8, 10):  # the five conv layers, in lpips' slices
        slice_ = next(s for s in (net.net.slice1, net.net.slice2, net.net.slice3, net.net.slice4, net.net.slice5)
                      if str(index) in s._modules)
        torch.testing.assert_close(slice_._modules[str(index)].weight, features[index].weight)
    torch.testing.assert_close(net.lin0.model[1].weight, network.lin0.model[1].weight)  # shipped v0.1 layers


def test_metric_uses_weights_dir(tmp_path, inputs, empty_hub, trust_weights):
    torch.manual_seed(2)
    path = tmp_path / "w" / ALEXNET
    path.parent.mkdir()
    torch.save({f"features.{k}": v for k, v in tv.models.alexnet().features.state_dict().items()}, path)
    trust_weights("alexnet", path)
    inputs.weights_dir = str(path.parent)
    result = lpips_metrics.lpips_metric(inputs, PROTOCOL)
    expected = one_by_one(lpips_metrics.build_network(path), inputs.generated, inputs.targets)
    np.testing.assert_allclose(result.per_pair, expected, rtol=1e-5, atol=1e-6)


def test_not_an_alexnet_checkpoint_is_a_clear_error(tmp_path):
    path = tmp_path / ALEXNET
    torch.save({"conv.weight": torch.zeros(1)}, path)
    with pytest.raises(Exception, match="not a torchvision AlexNet checkpoint"):
        lpips_metrics.build_network(path)


@pytest.mark.parametrize("metric", ["lpips_metric", "mask_lpips_metric"])
def test_missing_alexnet_weights_make_the_metric_unavailable(inputs, empty_hub, metric):
    result = getattr(lpips_metrics, metric)(inputs, PROTOCOL)
    assert result.value is None and result.per_pair is None
    assert ALEXNET in result.reason and str(empty_hub / "checkpoints") in result.reason


def test_registered_per_pair_lower_is_better():
    from bench.registry import METRICS

    for name in ("lpips", "mask-lpips"):
        entry = METRICS.get(name)
        assert entry.meta.per_pair and not entry.meta.higher_is_better
