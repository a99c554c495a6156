"""The heatmap pose estimator: decoding, flips, training and checkpoints."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from PIL import Image

from bench.data.annotations import write_annotations
from bench.data.keypoints import FLIP_PERMUTATION, INDEX, MISSING
from bench.errors import BenchError, DataError
from bench.pose_estimator import load_estimator
from bench.pose_estimator.heatmap import (
    HeatmapConfig,
    HeatmapEstimator,
    HeatmapNet,
    decode_heatmaps,
    mirror_heatmaps,
    render_targets,
    to_tensor,
)
from bench.pose_estimator.train import (
    Augmentation,
    PoseTrainConfig,
    best_threshold,
    colour_jitter,
    fit,
    flip_horizontally,
    random_similarity,
    train_heatmap_estimator,
    training_set,
)
from bench.data.layout import DatasetLayout

SIZE = (128, 64)


def random_pose(rng: np.random.Generator, size=SIZE) -> np.ndarray:
    kp = np.stack([rng.integers(0, size[0], 18), rng.integers(0, size[1], 18)], axis=1)
    kp[rng.random(18) < 0.25] = MISSING
    return kp


def test_decode_recovers_keypoints_of_rendered_heatmaps():
    rng = np.random.default_rng(0)
    keypoints = np.stack([random_pose(rng) for _ in range(6)])
    keypoints[0, 0] = (0, 0)  # corners: the border peak is not refined
    keypoints[0, 1] = (127, 63)
    heatmaps = render_targets(keypoints, SIZE, sigma=1.5)
    assert heatmaps.shape == (6, 18, 32, 16)
    decoded = decode_heatmaps(heatmaps, SIZE, threshold=0.3)
    np.testing.assert_array_equal(decoded, keypoints)


def test_decode_threshold_marks_weak_peaks_missing():
    keypoints = np.full((1, 18, 2), MISSING)
    keypoints[0, 3] = (50, 20)
    heatmaps = render_targets(keypoints, SIZE, sigma=1.5)
    heatmaps[0, 3] *= 0.2  # peak 0.2 < threshold 0.3
    assert (decode_heatmaps(heatmaps, SIZE, threshold=0.3) == MISSING).all()
    assert decode_heatmaps(heatmaps, SIZE, threshold=0.1)[0, 3].tolist() == [50, 20]
    per_keypoint = torch.full((18,), 0.3)
    per_keypoint[3] = 0.1
    assert decode_heatmaps(heatmaps, SIZE, threshold=per_keypoint)[0, 3].tolist() == [50, 20]


def test_decode_at_stride_8_of_a_downsampled_frame():
    rng = np.random.default_rng(2)
    keypoints = np.stack([random_pose(rng, (256, 176)) for _ in range(4)])
    heatmaps = render_targets(keypoints, (256, 176), sigma=1.5, stride=8)
    assert heatmaps.shape == (4, 18, 32, 22)
    decoded = decode_heatmaps(heatmaps, (256, 176), threshold=0.3, stride=8)
    present = keypoints[..., 0] != MISSING
    assert (decoded[~present] == MISSING).all()
    assert np.abs(decoded[present] - keypoints[present]).max() <= 1  # sub-cell refinement to a pixel


@pytest.mark.parametrize("width", [64, 62])
def test_mirror_heatmaps_undoes_a_flip(width):
    """The heatmaps of a mirrored person, mirrored back, are those of the person; when W is not a
    multiple of the stride the grid overhangs the frame and is shifted back by half a cell with
    linear interpolation (a slightly blunter peak; the overhanging last cell is not compared)."""
    rng = np.random.default_rng(3)
    keypoints = random_pose(rng, (128, width))[None]
    keypoints[0, :, 1] = np.where(keypoints[0, :, 0] != MISSING, keypoints[0, :, 1] % (width - 8) + 4, MISSING)
    _, flipped = flip_horizontally(np.zeros((1, 128, width, 3), np.uint8), keypoints, np.array([True]))
    restored = mirror_heatmaps(render_targets(flipped, (128, width), 1.5), width, stride=4)
    expected = render_targets(keypoints, (128, width), 1.5)
    if width % 4 == 0:
        torch.testing.assert_close(restored, expected, atol=1e-6, rtol=0)
    else:
        torch.testing.assert_close(restored[..., :-1], expected[..., :-1], atol=0.06, rtol=0)


def test_similarity_transform_moves_keypoints_with_the_image():
    rng = np.random.default_rng(4)
    images = np.zeros((6, *SIZE, 3), np.uint8)
    keypoints = np.full((6, 18, 2), MISSING)
    keypoints[:, 0] = np.stack([rng.integers(30, 98, 6), rng.integers(15, 49, 6)], 1)
    for i, (y, x) in enumerate(keypoints[:, 0]):
        images[i, y - 1 : y + 2, x - 1 : x + 2] = 255  # a 3x3 white dot on the keypoint
    warped, moved = random_similarity(to_tensor(images), keypoints, rng, Augmentation(scale=(0.8, 1.2), rotate=20, shift=0.05))
    assert (moved[:, 1:] == MISSING).all() and moved.dtype == np.float64
    weight = (warped.mean(1) - 0.05).clamp_min(0).numpy()  # the dot only (uncovered pixels are 0)
    yy, xx = np.mgrid[: SIZE[0], : SIZE[1]]
    found = np.stack([(weight * yy).sum((1, 2)), (weight * xx).sum((1, 2))], 1) / weight.sum((1, 2))[:, None]
    assert np.abs(found - moved[:, 0]).max() < 0.3


def test_similarity_transform_drops_keypoints_leaving_the_frame():
    keypoints = np.array([[[2, 2], [64, 32], [MISSING, MISSING]] + [[MISSING, MISSING]] * 15])
    rng = np.random.default_rng(0)
    shifted = Augmentation(scale=(1, 1), rotate=0, shift=0.0)
    _, same = random_similarity(torch.zeros(1, 3, *SIZE), keypoints, rng, shifted)
    np.testing.assert_allclose(same, keypoints)  # identity
    _, bigger = random_similarity(torch.zeros(1, 3, *SIZE), keypoints, rng, Augmentation(scale=(1.5, 1.5), rotate=0, shift=0.0))
    assert bigger[0, 0].tolist() == [MISSING, MISSING]  # corner pushed out of the frame
    np.testing.assert_allclose(bigger[0, 1], [63.5 + 0.5 * 1.5, 31.5 + 0.5 * 1.5])


def test_colour_jitter_keeps_range_and_changes_images():
    images = to_tensor(np.random.default_rng(5).integers(0, 256, (4, *SIZE, 3)).astype(np.uint8))
    jittered = colour_jitter(images, np.random.default_rng(6))
    assert jittered.shape == images.shape and jittered.min() >= -1 and jittered.max() <= 1
    assert (jittered - images).abs().mean() > 0.01


def test_best_threshold_minimises_presence_errors():
    peaks = np.array([0.9, 0.8, 0.6, 0.15, 0.1, 0.05])
    present = np.array([True, True, True, False, False, False])
    candidates = np.arange(0.05, 0.801, 0.05).round(2)
    assert best_threshold(peaks, present, candidates) == pytest.approx(0.4)  # middle of the errorless 0.2..0.6
    weak = np.array([0.9, 0.8, 0.6, 0.05, 0.1, 0.15])
    present[3] = True  # a present point weaker than two absent ones: cheaper to miss it than to admit both
    assert best_threshold(weak, present, candidates) == pytest.approx(0.4)


def test_flip_mirrors_image_and_swaps_sides():
    images = np.zeros((1, *SIZE, 3), np.uint8)
    images[0, 10, 5] = 255
    kp = np.full((1, 18, 2), MISSING)
    kp[0, INDEX["r_wrist"]] = (10, 5)
    flipped, fkp = flip_horizontally(images, kp, np.array([True]))
    assert flipped[0, 10, 58].tolist() == [255, 255, 255]
    assert fkp[0, INDEX["l_wrist"]].tolist() == [10, 58]
    assert fkp[0, INDEX["r_wrist"]].tolist() == [MISSING, MISSING]
    assert FLIP_PERMUTATION[INDEX["l_wrist"]] == INDEX["r_wrist"]


def draw_person(kp: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A noisy background with a bright coloured blob at every present keypoint."""
    image = rng.integers(0, 60, (*SIZE, 3)).astype(np.uint8)
    yy, xx = np.mgrid[: SIZE[0], : SIZE[1]]
    for k, (y, x) in enumerate(kp):
        if y != MISSING:
            colour = np.array([(37 * k) % 256, (91 * k + 80) % 256, 255 - 13 * k])
            image[(yy - y) ** 2 + (xx - x) ** 2 <= 4] = colour
    return image


@pytest.fixture
def tiny_market(tmp_path):
    rng = np.random.default_rng(1)
    root = tmp_path / "tiny"
    for split in ("train", "test"):
        (root / split).mkdir(parents=True)
        annotations = {f"{i:04d}_c1s1_{i:06d}_01.jpg": random_pose(rng) for i in range(8)}
        for name, kp in annotations.items():
            Image.fromarray(draw_person(kp, rng)).save(root / split / name, quality=95)
        write_annotations(root / f"market-annotation-{split}.csv", annotations)
    return root


def test_training_reduces_the_loss(tiny_market, one_torch_thread):
    torch.manual_seed(0)
    data = training_set(DatasetLayout.open(tiny_market))
    assert len(data.paths) == 8
    config = PoseTrainConfig(steps=25, batch_size=4, lr=3e-3, width=8, augment=False)
    losses = fit(HeatmapNet(width=8), data, config, HeatmapConfig(width=8))
    assert np.mean(losses[-5:]) < 0.8 * np.mean(losses[:3])


def test_train_save_load_predict(tiny_market, tmp_path, one_torch_thread):
    out = tmp_path / "pose.pt"
    estimator = train_heatmap_estimator(tiny_market, out, PoseTrainConfig(steps=3, batch_size=2, width=8))
    assert out.is_file() and not list(tmp_path.glob(".pose.pt.*"))  # atomic: no temporary left
    assert estimator.name.startswith(f"heatmap:{out} (sha256 ") and len(estimator.name.split("sha256 ")[1]) == 13
    assert estimator.provenance["training_images"] == 8 and estimator.provenance["train"]["steps"] == 3
    assert "git_commit" in estimator.provenance and estimator.provenance["train_cpu_seconds"] >= 0
    assert len(estimator.config.thresholds) == 18 and all(0 < t < 1 for t in estimator.config.thresholds)
    assert dataclasses.replace(estimator.config, thresholds=()) == HeatmapConfig(width=8)
    ckpt = torch.load(out, weights_only=True)  # loads without unpickling arbitrary objects
    assert ckpt["format"] == "bench-pose-heatmap-v2"
    images = np.zeros((3, *SIZE, 3), np.uint8)
    pred = load_estimator(f"heatmap:{out}").predict(images, ["a", "b", "c"])
    assert pred.shape == (3, 18, 2) and pred.dtype == np.int64
    present = pred[..., 0] != MISSING
    assert ((pred[present] >= 0).all() and (pred[..., 0][present] < 128).all() and (pred[..., 1][present] < 64).all())
    with pytest.raises(DataError, match="trained on"):
        estimator.predict(np.zeros((1, 256, 176, 3), np.uint8))


def test_load_rejects_missing_and_foreign_checkpoints(tmp_path):
    with pytest.raises(DataError, match="not found"):
        HeatmapEstimator.load(tmp_path / "nope.pt")
    torch.save({"weights": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(DataError, match="not a heatmap pose estimator"):
        HeatmapEstimator.load(tmp_path / "other.pt")
    torch.save({"format": "bench-pose-heatmap-v1", "config": {}, "state_dict": {}}, tmp_path / "old.pt")
    with pytest.raises(DataError, match="outdated.*retrain"):
        HeatmapEstimator.load(tmp_path / "old.pt")
    with pytest.raises(BenchError, match="csv:PATH, heatmap:PATH, rtmpose, rtmpose:PATH or none"):
        load_estimator("heatmap")
    with pytest.raises(BenchError, match="unknown estimator kind 'openpose'"):
        load_estimator("openpose:x")
    assert load_estimator("none") is None and load_estimator(None) is None
