"""MS-DefGAN with the differentiable renderer (Horiuchi et al.): registry entry, parameter
count, any number of sources, and renderer parameters that train with the generator."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from baselines.layers.drender import DifferentiablePoseRenderer
from baselines.msdefgan_drender import PAPER_SETTINGS
from bench.data.keypoints import INDEX, MISSING
from bench.data.pose import heatmaps
from bench.errors import BenchError
from bench.models import count_parameters, create_model
from bench.registry import MODELS

SIZE = (128, 64)
POSE = dict(  # (y, x) on a 128x64 frame
    nose=(15, 32), neck=(28, 32), r_eye=(12, 30), l_eye=(12, 34), r_ear=(14, 27), l_ear=(14, 37),
    r_shoulder=(30, 22), l_shoulder=(30, 42), r_hip=(70, 24), l_hip=(70, 40),
    r_knee=(95, 24), l_knee=(95, 40), r_ankle=(120, 24), l_ankle=(120, 40),
    r_elbow=(50, 16), l_elbow=(50, 48), r_wrist=(65, 14), l_wrist=(65, 50),
)
MSDEFGAN_MARKET = 51_933_391  # tests/models/test_msdefgan.py: summed from the Keras layers
MSDEFGAN_FASHION = 68_302_902


def _keypoints(size, dx: float, dy: float = 0.0) -> torch.Tensor:
    kp = torch.full((18, 2), float(MISSING))
    sy, sx = size[0] / SIZE[0], size[1] / SIZE[1]
    for name, (y, x) in POSE.items():
        kp[INDEX[name]] = torch.tensor([y * sy + dy, x * sx + dx])
    return kp


def batch(k: int, n: int = 2, seed: int = 0, size=SIZE) -> dict:
    g = torch.Generator().manual_seed(seed)

    def smooth(m: int) -> torch.Tensor:  # low-frequency images a few steps can fit
        return nn.functional.interpolate(torch.rand(m, 3, 4, 2, generator=g) * 2 - 1, size=size, mode="bilinear")

    src_kp = torch.stack([torch.stack([_keypoints(size, 2.0 * j - 3, 1.0 * i) for j in range(k)]) for i in range(n)])
    tgt_kp = torch.stack([_keypoints(size, 3.0 * (i + 1)) for i in range(n)])
    return {
        "source": smooth(n * k).reshape(n, k, 3, *size), "source_pose": heatmaps(src_kp, size),
        "source_keypoints": src_kp, "target": smooth(n), "target_pose": heatmaps(tgt_kp, size),
        "target_keypoints": tgt_kp, "from": [[f"s{i}_{j}.jpg" for j in range(k)] for i in range(n)],
        "to": [f"t{i}.jpg" for i in range(n)],
    }


def test_registry_entry_and_paper_settings():
    entry = MODELS.get("msdefgan-drender")
    assert "Horiuchi" in entry.meta.paper and entry.meta.multi_source
    assert PAPER_SETTINGS["market"]["train_sources"] == 12 and PAPER_SETTINGS["market"]["eval_sources"] == (1, 3, 10)
    assert PAPER_SETTINGS["deepfashion"]["train_sources"] == 3 and PAPER_SETTINGS["deepfashion"]["eval_sources"] == (1, 3)


@pytest.mark.parametrize("dataset, msdefgan", [("market", MSDEFGAN_MARKET), ("deepfashion", MSDEFGAN_FASHION)])
def test_parameter_count_is_msdefgan_with_37_pose_channels_and_75_renderer_parameters(dataset, msdefgan):
    with torch.device("meta"):
        generator = MODELS.get("msdefgan-drender").meta.generator_builder(dataset)
    renderer = generator.pose_renderer.renderer
    assert isinstance(renderer, DifferentiablePoseRenderer) and count_parameters(renderer) == 18 + 3 * 19
    # The first 3x3 convolution (64 filters) of the appearance encoder sees 19 more channels,
    # the pose encoder's 2 x 19 more.
    assert generator.appearance.levels[0].in_channels == 3 + 37 and generator.pose.levels[0].in_channels == 2 * 37
    assert count_parameters(generator) == msdefgan + (19 + 38) * 64 * 9 + 75
    assert count_parameters(create_model("msdefgan-drender", dataset, width=1 / 32).discriminators) == count_parameters(
        create_model("msdefgan", dataset, width=1 / 32).discriminators)


@pytest.mark.parametrize("dataset, size, k", [("market", SIZE, 1), ("market", SIZE, 3), ("deepfashion", (256, 176), 3)])
def test_any_number_of_sources(dataset, size, k):
    torch.manual_seed(0)
    model = create_model("msdefgan-drender", dataset, width=1 / 32, reconstruction="l1").eval()
    data = batch(k, size=size)
    with torch.no_grad():
        fake = model(data)
    assert fake.shape == (2, 3, *size) and fake.abs().max() <= 1
    assert model.discriminate(data, fake).shape[:2] == (2, k)  # D keeps the batch's 18 heatmaps
    assert set(model.generator_losses(data, fake)) == {"gan", "l1"}


def test_renderer_options_and_bad_names():
    model = create_model("msdefgan-drender", "market", width=1 / 32, render_edges=False, render_normal="unit")
    assert model.generator.pose_renderer.channels == 18 and model.generator.pose.levels[0].in_channels == 36
    assert model.metadata()["renderer"]["normal"] == "unit"
    with pytest.raises(BenchError, match="render_sigma"):
        create_model("msdefgan-drender", "market", render_sigma=3.0)
    with pytest.raises(BenchError, match="option"):
        create_model("msdefgan-drender", "market", not_an_option=1)


def test_training_steps_reduce_the_loss_and_train_the_renderer():
    torch.manual_seed(0)
    model = create_model("msdefgan-drender", "market", width=1 / 32, reconstruction="l1")
    renderer = model.renderer
    # The trainer's G optimiser is Adam over generator.parameters(): the renderer's are in it.
    ids = {id(p) for p in model.generator.parameters()}
    assert all(id(p) in ids for p in renderer.parameters())
    before = {n: p.detach().clone() for n, p in renderer.named_parameters()}
    g_opt = torch.optim.Adam(model.generator.parameters(), lr=1e-3, betas=(0.5, 0.999))
    d_opt = torch.optim.Adam(model.discriminators.parameters(), lr=1e-3, betas=(0.5, 0.999))
    data, history = batch(3, n=1), []
    model.train()
    for _ in range(8):
        fake = model(data)
        losses = model.generator_losses(data, fake)
        g_opt.zero_grad()
        sum(losses.values()).backward()
        g_opt.step()
        d_opt.zero_grad()
        sum(model.discriminator_losses(data, fake.detach()).values()).backward()
        d_opt.step()
        history.append(float(losses["l1"].detach()))
    assert history[-1] < 0.8 * history[0]
    # Every vertex/edge that is drawn moved (the test pose has no missing keypoint among the edges).
    for name, value in renderer.named_parameters():
        assert (value.detach() != before[name]).all(), name
    learned = model.metadata()["renderer"]["learned"]
    assert set(learned) == {"sigma", "alpha_start", "alpha_end", "beta"} and len(learned["beta"]) == 19
    assert learned["sigma"] != [6.0] * 18
