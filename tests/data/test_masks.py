"""The PG2 mask against a literal re-construction of pose_utils.produce_ma_mask.

The reference draws the disks with ``skimage.draw.disk`` (the old ``circle``)
and closes with ``skimage.morphology``. The rectangles use a per-pixel copy of
the polygon fill of scikit-image <= 0.17 (the versions the published metric
scripts ran on: they call ``compare_ssim``, removed in 0.18): scikit-image 0.18
(PR #5029) made ``draw.polygon`` include pixels on the boundary.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from skimage.draw import disk, polygon
from skimage.morphology import dilation, erosion

from bench.data.annotations import read_annotations
from bench.data.keypoints import MASK_LIMBS
from bench.data.masks import pg2_mask, pg2_masks


def old_polygon(r: np.ndarray, c: np.ndarray, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """scikit-image <= 0.17 ``draw.polygon``: its half-open crossing test at every pixel centre."""
    minr, maxr = int(max(0, r.min())), min(shape[0] - 1, int(math.ceil(r.max())))
    minc, maxc = int(max(0, c.min())), min(shape[1] - 1, int(math.ceil(c.max())))
    y, x = np.mgrid[minr : maxr + 1, minc : maxc + 1].astype(float)
    inside = np.zeros(y.shape, dtype=bool)
    j = len(r) - 1
    for i in range(len(r)):
        spans = ((r[i] <= y) & (y < r[j])) | ((r[j] <= y) & (y < r[i]))
        with np.errstate(divide="ignore", invalid="ignore"):
            inside ^= spans & (x < (c[j] - c[i]) * (y - r[i]) / (r[j] - r[i]) + c[i])
        j = i
    return y[inside].astype(int), x[inside].astype(int)


def produce_ma_mask(kp: np.ndarray, size: tuple[int, int], fill_polygon=old_polygon) -> np.ndarray:
    mask = np.zeros(size, dtype=bool)
    for f, t in MASK_LIMBS:
        if -1 in kp[f] or -1 in kp[t]:
            continue
        normal = kp[f] - kp[t]
        normal = np.array([-normal[1], normal[0]])
        with np.errstate(invalid="ignore"):
            normal = 4 * normal / np.linalg.norm(normal)
        corners = np.array([kp[f] + normal, kp[f] - normal, kp[t] - normal, kp[t] + normal])
        if np.isnan(corners).any():  # coincident ends: 0/0 in the original, nothing drawn
            continue
        yy, xx = fill_polygon(corners[:, 0], corners[:, 1], shape=size)
        mask[yy, xx] = True
    for joint in kp:
        if -1 in joint:
            continue
        yy, xx = disk((joint[0], joint[1]), radius=4, shape=size)
        mask[yy, xx] = True
    square = np.ones((5, 5), dtype=bool)
    return erosion(dilation(mask, square), square)


def _hand_made_poses() -> dict[str, tuple[np.ndarray, tuple[int, int]]]:
    upright = np.array([[12, 32], [24, 32], [24, 22], [44, 18], [62, 20], [24, 42], [44, 46], [62, 44],
                        [62, 26], [86, 26], [112, 27], [62, 38], [86, 38], [112, 37], [10, 29], [10, 35],
                        [12, 25], [12, 39]])
    missing = upright.copy()
    missing[[3, 4, 9, 16]] = -1
    border = upright.copy()
    border[[0, 14, 16]] = [[0, 0], [0, 3], [1, 0]]          # top-left corner
    border[[10, 13]] = [[127, 63], [127, 60]]                # bottom-right corner
    border[[4, 7]] = [[60, 0], [60, 63]]                     # wrists on the side borders
    coincident = upright.copy()
    coincident[15] = coincident[17]                          # a mask limb of length 0
    diagonal = np.full((18, 2), -1)
    diagonal[[1, 2, 5, 8, 11]] = [[50, 80], [53, 61], [47, 99], [130, 70], [127, 90]]
    return {
        "upright": (upright, (128, 64)),
        "missing": (missing, (128, 64)),
        "border": (border, (128, 64)),
        "coincident": (coincident, (128, 64)),
        "all-missing": (np.full((18, 2), -1), (128, 64)),
        "fashion-diagonal": (diagonal, (256, 176)),
    }


@pytest.mark.parametrize("name", list(_hand_made_poses()))
def test_hand_made_poses_match_literal_reference(name):
    kp, size = _hand_made_poses()[name]
    got = pg2_mask(kp, size)
    assert got.shape == size and got.dtype == bool
    np.testing.assert_array_equal(got, produce_ma_mask(kp, size))
    if name == "all-missing":
        assert not got.any()


def test_reference_polygon_fill_agrees_with_skimage_off_the_boundary():
    """Checks the old-rule copy itself: it differs from today's skimage only on edges."""
    rng = np.random.default_rng(0)
    for _ in range(20):
        r, c = rng.uniform(-5, 40, 4), rng.uniform(-5, 30, 4)
        order = np.argsort(np.arctan2(r - r.mean(), c - c.mean()))  # a simple (convex-ish) polygon
        r, c = r[order], c[order]
        old = np.zeros((36, 26), bool)
        new = np.zeros((36, 26), bool)
        old[old_polygon(r, c, (36, 26))] = True
        new[polygon(r, c, shape=(36, 26))] = True
        # random float vertices put no pixel centre exactly on an edge
        np.testing.assert_array_equal(old, new)


def test_batch_equals_single_and_validates_input():
    poses = _hand_made_poses()
    kps = np.stack([poses[n][0] for n in ("upright", "missing", "border", "coincident")])
    batch = pg2_masks(kps, (128, 64))
    assert batch.shape == (4, 128, 64)
    for i, kp in enumerate(kps):
        np.testing.assert_array_equal(batch[i], pg2_mask(kp, (128, 64)))
    np.testing.assert_array_equal(pg2_masks(kps.astype(float), (128, 64)), batch)
    with pytest.raises(ValueError, match="integer"):
        pg2_mask(kps[0] + 0.5, (128, 64))
    with pytest.raises(ValueError, match="shape"):
        pg2_masks(kps[:, :17], (128, 64))
    assert pg2_masks(np.zeros((0, 18, 2), int), (128, 64)).shape == (0, 128, 64)


def test_real_market_annotations(shared_data):
    annotations = read_annotations(shared_data / "market" / "market-annotation-test.csv")
    names = list(annotations)[::100]  # ~200 poses spread over the file
    # plus every pose with a zero-length mask limb (their rectangles are NaN in the original)
    names += [n for n, kp in annotations.items()
              if any(-1 not in kp[f] and (kp[f] == kp[t]).all() for f, t in MASK_LIMBS)][:10]
    kps = np.stack([annotations[n] for n in names])
    got = pg2_masks(kps, (128, 64))
    for name, kp, mask in zip(names, kps, got):
        np.testing.assert_array_equal(mask, produce_ma_mask(kp, (128, 64)), err_msg=name)


def test_real_fashion_annotations(shared_data):
    annotations = read_annotations(shared_data / "fashion-posegan-old" / "fasion-annotation-test.csv")
    names = list(annotations)[::100]
    kps = np.stack([annotations[n] for n in names])
    for name, kp, mask in zip(names, kps, pg2_masks(kps, (256, 256))):
        np.testing.assert_array_equal(mask, produce_ma_mask(kp, (256, 256)), err_msg=name)
