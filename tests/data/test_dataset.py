from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from bench.data.annotations import write_annotations, write_pairs
from bench.data.dataset import MultiSourceDataset, PairDataset, collate, flip_image, flip_keypoints
from bench.data.images import save_image
from bench.data.keypoints import FLIP_PERMUTATION, INDEX
from bench.data.layout import DatasetLayout
from bench.errors import DataError

H, W = 128, 64
NAMES = [f"0001_c1s1_00000{i}_01.jpg" for i in range(4)] + [f"0002_c2s1_00000{i}_01.jpg" for i in range(3)]


def _pose(rng: np.random.Generator) -> np.ndarray:
    kp = np.stack([rng.integers(0, H, 18), rng.integers(0, W, 18)], axis=1)
    kp[rng.random(18) < 0.25] = -1
    kp[INDEX["l_shoulder"]] = (30, 45)  # always present, off-centre
    return kp


@pytest.fixture
def layout(tmp_path) -> DatasetLayout:
    rng = np.random.default_rng(0)
    (tmp_path / "test").mkdir()
    for i, name in enumerate(NAMES):
        image = np.zeros((H, W, 3), np.uint8)
        image[:] = (30 * i, 255 - 30 * i, 100)
        image[:, : W // 4] = 255  # a bright left band: not mirror-symmetric
        save_image(tmp_path / "test" / name, image, quality=95)
    write_annotations(tmp_path / "market-annotation-test.csv", {n: _pose(rng) for n in NAMES})
    write_pairs(tmp_path / "pairs-test.csv", [(NAMES[0], NAMES[1]), (NAMES[2], NAMES[3]), (NAMES[4], NAMES[5])])
    return DatasetLayout.open(tmp_path)


def test_pair_items_shapes_ranges_and_names(layout):
    ds = PairDataset(layout, "test")
    assert len(ds) == 3
    item = ds[1]
    assert item["from"] == NAMES[2] and item["to"] == NAMES[3]
    for key in ("source", "target"):
        assert item[key].shape == (3, H, W) and item[key].dtype == torch.float32
        assert -1.0 <= item[key].min() and item[key].max() <= 1.0
        assert item[key][:, :, 0].max() == 1.0  # the white band maps to +1
    for key in ("source_pose", "target_pose"):
        assert item[key].shape == (18, H, W) and 0.0 <= item[key].min() and item[key].max() <= 1.0
    kp = ds.annotations[NAMES[3]]
    np.testing.assert_array_equal(item["target_keypoints"].numpy(), kp)
    for c in range(18):
        if kp[c, 0] == -1:
            assert item["target_pose"][c].abs().sum() == 0
        else:
            assert item["target_pose"][c, kp[c, 0], kp[c, 1]] == 1.0


def test_loader_collates_names_as_lists(layout):
    batch = next(iter(DataLoader(PairDataset(layout, "test"), batch_size=3, collate_fn=collate)))
    assert batch["source"].shape == (3, 3, H, W) and batch["target_pose"].shape == (3, 18, H, W)
    assert batch["from"] == [NAMES[0], NAMES[2], NAMES[4]] and batch["to"] == [NAMES[1], NAMES[3], NAMES[5]]


def test_flip_is_an_involution():
    rng = np.random.default_rng(3)
    kp = np.stack([_pose(rng) for _ in range(5)])
    np.testing.assert_array_equal(flip_keypoints(flip_keypoints(kp, W), W), kp)
    image = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
    np.testing.assert_array_equal(flip_image(flip_image(image)), image)
    assert (flip_keypoints(kp, W) == -1).sum() == (kp == -1).sum()


def test_flipped_item_mirrors_images_and_swaps_left_right(layout):
    plain, flipped = PairDataset(layout, "test")[0], PairDataset(layout, "test", flip=True, flip_p=1.0)[0]
    for key in ("source", "target"):
        torch.testing.assert_close(flipped[key], torch.flip(plain[key], dims=[2]), rtol=0, atol=0)
    # the left shoulder at (30, 45) becomes the right shoulder at (30, 63 - 45)
    y, x = 30, 45
    l_sho, r_sho = INDEX["l_shoulder"], INDEX["r_shoulder"]
    assert plain["source_pose"][l_sho].argmax().item() == y * W + x
    assert flipped["source_pose"][r_sho].argmax().item() == y * W + (W - 1 - x)
    assert flipped["source_keypoints"][r_sho].tolist() == [y, W - 1 - x]
    torch.testing.assert_close(flipped["source_pose"], torch.flip(plain["source_pose"], dims=[2])[list(FLIP_PERMUTATION)])
    assert PairDataset(layout, "test", flip=True, flip_p=0.0)[0]["source"].equal(plain["source"])


def test_explicit_pairs_and_errors(layout):
    ds = PairDataset(layout, "test", pairs=[(NAMES[6], NAMES[0])])
    assert ds[0]["from"] == NAMES[6]
    with pytest.raises(DataError, match="'nobody.jpg' has no annotation"):
        PairDataset(layout, "test", pairs=[(NAMES[0], "nobody.jpg")])
    (layout.images("test") / NAMES[6]).unlink()
    with pytest.raises(DataError, match=f"1 image.*missing.*{NAMES[6]}"):
        PairDataset(layout, "test", pairs=[(NAMES[6], NAMES[0])])
    write_pairs(layout.root / "pairs-test.csv", [(NAMES[0], NAMES[1]), (NAMES[1], "ghost.jpg")])
    with pytest.raises(DataError, match=r"pairs-test\.csv:3: image 'ghost.jpg'"):
        PairDataset(layout, "test")


def test_wrong_size_image_is_reported(layout):
    save_image(layout.images("test") / NAMES[1], np.zeros((100, 64, 3), np.uint8))
    with pytest.raises(DataError, match="expected 128x64"):
        PairDataset(layout, "test")[0]


def test_multi_source_items(layout, tmp_path):
    tuples = tmp_path / "msource-test-k2.csv"
    tuples.write_text(f"to,from_1,from_2\n{NAMES[0]},{NAMES[1]},{NAMES[2]}\n{NAMES[4]},{NAMES[5]},{NAMES[6]}\n")
    ds = MultiSourceDataset(layout, "test", tuples)
    item = ds[1]
    assert item["source"].shape == (2, 3, H, W) and item["source_pose"].shape == (2, 18, H, W)
    assert item["source_keypoints"].shape == (2, 18, 2) and item["target"].shape == (3, H, W)
    assert item["from"] == [NAMES[5], NAMES[6]] and item["to"] == NAMES[4]
    single = PairDataset(layout, "test", pairs=[(NAMES[6], NAMES[4])])[0]
    assert item["source"][1].equal(single["source"]) and item["target_pose"].equal(single["target_pose"])
    k1 = MultiSourceDataset(layout, "test", tuples, k=1)
    assert k1[0]["source"].shape == (1, 3, H, W)
    listed = MultiSourceDataset(layout, "test", [(NAMES[0], [NAMES[1], NAMES[2]])], flip=True, flip_p=1.0)
    torch.testing.assert_close(listed[0]["source"], torch.flip(ds[0]["source"], dims=[3]), rtol=0, atol=0)
    batch = collate([ds[0], ds[1]])
    assert batch["source"].shape == (2, 2, 3, H, W) and batch["from"] == [[NAMES[1], NAMES[2]], [NAMES[5], NAMES[6]]]


def test_each_image_is_decoded_once_and_items_do_not_change(layout, monkeypatch):
    """Reference: the items of a dataset whose cache is disabled (every use decodes the file)."""
    import bench.data.dataset as dataset

    calls = []
    real = dataset.load_image
    monkeypatch.setattr(dataset, "load_image", lambda path, size: calls.append(path.name) or real(path, size))
    ds = PairDataset(layout, "test", flip=True, flip_p=0.5)
    torch.manual_seed(0)
    cached = [ds[i % 3] for i in range(9)]  # three epochs, flips drawn anew
    assert sorted(calls) == sorted(n for pair in ds.pairs for n in pair)  # 6 files, each decoded once

    monkeypatch.setattr(dataset, "DECODE_CACHE_BYTES", 0)
    torch.manual_seed(0)
    fresh = PairDataset(layout, "test", flip=True, flip_p=0.5)
    uncached = [fresh[i % 3] for i in range(9)]
    assert len(calls) == 6 + 18
    for a, b in zip(cached, uncached):
        for key in ("source", "target", "source_pose", "target_keypoints"):
            assert torch.equal(a[key], b[key])
