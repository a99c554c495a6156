"""Deformable-skip geometry, warping, scalar instance norm and NN loss vs independent computations."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from baselines.layers import deform
from bench.data.keypoints import INDEX, MISSING


def _pose(**points: tuple[float, float]) -> np.ndarray:
    """An (18, 2) (y, x) pose with the given named points, the rest missing."""
    kp = np.full((18, 2), MISSING, dtype=np.float64)
    for name, yx in points.items():
        kp[INDEX[name]] = yx
    return kp


# An upright person on a 128x64 grid: shoulders at rows 30, hips at row 70 (st = 40).
BASE = dict(
    nose=(15, 32), r_eye=(12, 30), l_eye=(12, 34),
    r_shoulder=(30, 22), l_shoulder=(30, 42), r_hip=(70, 24), l_hip=(70, 40),
    r_knee=(95, 24), l_knee=(95, 40), r_ankle=(120, 24), l_ankle=(120, 40),
    r_elbow=(50, 16), l_elbow=(50, 48), r_wrist=(65, 14), l_wrist=(65, 50),
)


def _apply(matrix: np.ndarray, kp_yx: np.ndarray) -> np.ndarray:
    """Map (y, x) points with an (x, y) affine matrix; returns (y, x)."""
    xy1 = np.concatenate([kp_yx[:, ::-1], np.ones((len(kp_yx), 1))], 1)
    return (xy1 @ matrix.T)[:, :2][:, ::-1]


def test_fit_affine_recovers_known_map_and_matches_lstsq():
    rng = np.random.default_rng(0)
    truth = np.array([[1.2, -0.3, 5.0], [0.4, 0.9, -7.0], [0, 0, 1]])
    src = rng.uniform(0, 100, (2, 6, 2))
    dst = np.einsum("ij,npj->npi", truth[:2, :2], src) + truth[:2, 2]
    matrix, ok = deform.fit_affine(src, dst)
    assert ok.all()
    np.testing.assert_allclose(matrix, np.broadcast_to(truth, (2, 3, 3)), atol=1e-9)

    noisy = dst + rng.normal(0, 2.0, dst.shape)
    weights = np.array([[1, 1, 0, 1, 1, 0], [1, 1, 1, 1, 1, 1]], dtype=float)
    matrix, ok = deform.fit_affine(src, noisy, weights)
    for n in range(2):
        keep = weights[n] > 0
        design = np.c_[src[n, keep], np.ones(keep.sum())]
        coef, *_ = np.linalg.lstsq(design, noisy[n, keep], rcond=None)
        np.testing.assert_allclose(matrix[n, :2], coef.T, atol=1e-9)


def test_fit_affine_flags_degenerate_points():
    collinear = np.array([[[0, 0], [1, 1], [2, 2], [3, 3]]], dtype=float)
    _, ok = deform.fit_affine(collinear, collinear)
    assert not ok[0]


def test_part_transforms_exact_for_a_global_affine_pose_change():
    target = _pose(**BASE)
    truth = np.array([[0.9, 0.1, 3.0], [-0.05, 1.1, -4.0], [0, 0, 1]])  # target (x, y) -> source (x, y)
    source = target.copy()
    source[target[:, 0] != MISSING] = _apply(truth, target[target[:, 0] != MISSING])
    transforms = deform.part_transforms(source[None], target[None])[0]
    # torso and head: the keypoints move by ``truth``; limbs: a rectangle of half-width
    # 0.2*st is not carried onto the other rectangle by a shear, so only check the
    # rectangle corners, which the fit maps exactly onto each other (rectangle -> rectangle).
    np.testing.assert_allclose(transforms[0], truth, atol=1e-9)
    np.testing.assert_allclose(transforms[1], truth, atol=1e-9)
    st_s = deform.st_distance(source[None, :, ::-1], np.ones((1, 18), bool))
    st_t = deform.st_distance(target[None, :, ::-1], np.ones((1, 18), bool))
    for part, (fr, to, inc_to, _) in enumerate(deform.LIMBS, start=2):
        poly_t = deform.limb_polygon(target[fr, ::-1], target[to, ::-1], st_t[0], inc_to)
        poly_s = deform.limb_polygon(source[fr, ::-1], source[to, ::-1], st_s[0], inc_to)
        mapped = np.c_[poly_t, np.ones(4)] @ transforms[part].T
        np.testing.assert_allclose(mapped[:, :2], poly_s, atol=1e-9)


def test_limb_polygon_extents():
    # A vertical segment from (x=10, y=10) to (x=10, y=30), st = 10: extended 0.1*20 = 2 up;
    # then the "to" end by 0.5 of the extended length 22 = 11 down; half-width 2.
    poly = deform.limb_polygon(np.array([10.0, 10.0]), np.array([10.0, 30.0]), np.array(10.0), 0.5)
    np.testing.assert_allclose(np.sort(poly[:, 1]), [8, 8, 41, 41])
    np.testing.assert_allclose(np.sort(poly[:, 0]), [8, 8, 12, 12])
    # Coincident ends: the +-1 square of the original.
    square = deform.limb_polygon(np.array([5.0, 5.0]), np.array([5.0, 5.0]), np.array(10.0), 0.1)
    np.testing.assert_allclose(square, [[6, 6], [4, 4], [4, 4], [6, 6]])


def test_mirrored_limb_and_missing_limb_fallbacks():
    target = _pose(**BASE)
    source = target.copy()
    source[INDEX["r_knee"]] = MISSING  # R upper/lower leg missing in the source -> L legs used
    transforms = deform.part_transforms(source[None], target[None])[0]
    # The L upper leg sits 16 px to the right of the R one in the source: a pure x shift.
    expected = np.eye(3)
    expected[0, 2] = 16.0
    np.testing.assert_allclose(transforms[2], expected, atol=1e-9)
    np.testing.assert_allclose(transforms[4], expected, atol=1e-9)

    target_missing = target.copy()
    target_missing[INDEX["l_wrist"]] = MISSING
    transforms = deform.part_transforms(target[None], target_missing[None])[0]
    np.testing.assert_allclose(transforms[9], deform.no_point_transform(), atol=0)
    both = source.copy()
    both[INDEX["l_knee"]] = MISSING
    transforms = deform.part_transforms(both[None], target[None])[0]
    np.testing.assert_allclose(transforms[2], deform.no_point_transform(), atol=0)


def test_head_transform_uses_common_head_points_plus_shoulders():
    target = _pose(**BASE)
    source = target.copy()
    source[INDEX["r_eye"]] = MISSING
    source[INDEX["nose"]] += (3.0, 0.0)  # only the nose moves
    transforms = deform.part_transforms(source[None], target[None])[0]
    names = ["nose", "l_eye", "l_shoulder", "r_shoulder"]  # r_eye absent in the source
    tgt_xy = np.array([target[INDEX[n], ::-1] for n in names])
    src_xy = np.array([source[INDEX[n], ::-1] for n in names])
    coef, *_ = np.linalg.lstsq(np.c_[tgt_xy, np.ones(4)], src_xy, rcond=None)
    np.testing.assert_allclose(transforms[1, :2], coef.T, atol=1e-9)


def test_part_masks_pixel_extents():
    target = _pose(**BASE)
    masks = deform.part_masks(target[None], (128, 64))[0].astype(bool)
    assert masks[0].all()  # torso: the whole image
    # Head: mean of nose and eyes = (x=32, y=13); border int(0.4*st) with st = sqrt(mean(40^2+2^2, 40^2+2^2)).
    st = np.sqrt(40**2 + 2**2)
    b = int(0.4 * st)
    rows, cols = np.nonzero(masks[1])
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (max(13 - b, 0), 13 + b - 1, 32 - b, 32 + b - 1)  # clipped at row 0
    # L lower leg, vertical at x=40: knee y=95, ankle y=120; extended 0.1 up, then 0.5 of the new length down.
    fr, to = 95.0, 120.0
    top = fr - 0.1 * (to - fr)
    bottom = to + 0.5 * (to - top)
    half = 0.2 * st
    rows, cols = np.nonzero(masks[5])
    assert rows.min() == int(np.ceil(top)) and rows.max() == min(127, int(np.ceil(bottom)) - 1)
    assert cols.min() == int(np.ceil(40 - half)) and cols.max() == int(np.ceil(40 + half)) - 1
    assert masks[5].sum() == (min(128, int(np.ceil(bottom))) - int(np.ceil(top))) * (cols.max() - cols.min() + 1)
    # A limb missing in the target has an empty mask.
    target[INDEX["r_wrist"]] = MISSING
    assert not deform.part_masks(target[None], (128, 64))[0, 8].any()


def test_points_in_polygon_matches_current_skimage_off_the_boundary():
    skimage_measure = pytest.importorskip("skimage.measure")
    poly = np.array([[10.3, 5.2], [40.7, 20.1], [35.2, 44.9], [3.1, 30.6]])  # (row, col), no lattice points on edges
    rows, cols = np.arange(64)[:, None], np.arange(48)[None, :]
    ours = deform._points_in_polygon(rows, cols, poly)
    theirs = skimage_measure.grid_points_in_poly((64, 48), poly)
    assert ours.sum() > 500
    np.testing.assert_array_equal(ours, theirs)


def test_warp_identity_returns_the_input():
    features = torch.randn(2, 3, 16, 8)
    identity = torch.eye(3, dtype=torch.float64).expand(2, 1, 3, 3)
    for mode in ("nearest", "bilinear"):
        out = deform.warp(features, identity, mode)[:, 0]
        torch.testing.assert_close(out, features)


def test_warp_translation_moves_features_by_the_level_shift():
    # An image-level backward map sampling 8 px to the right and 4 px down: at the /4
    # level a feature at (row 5, col 4) appears at (row 4, col 2).
    image_size, h, w = (64, 32), 16, 8
    features = torch.zeros(1, 2, h, w)
    features[0, :, 5, 4] = torch.tensor([1.0, 2.0])
    shift = torch.eye(3, dtype=torch.float64)
    shift[0, 2], shift[1, 2] = 8.0, 4.0
    masks = torch.ones(1, 1, *image_size)
    out = deform.deformable_skip(features, shift.expand(1, 1, 3, 3), masks, image_size)
    expected = torch.zeros_like(features)
    expected[0, :, 4, 2] = torch.tensor([1.0, 2.0])
    torch.testing.assert_close(out, expected)
    # The off-image translation samples only zeros.
    gone = deform.warp(features, torch.from_numpy(deform.no_point_transform((1, 1))), "nearest")
    assert gone.abs().max() == 0


def test_warp_nearest_rounds_half_away_from_zero():
    features = torch.arange(4.0).view(1, 1, 1, 4)
    half = torch.eye(3, dtype=torch.float64)
    half[0, 2] = 0.5  # x + 0.5 rounds up: output x reads x + 1
    out = deform.warp(features, half.expand(1, 1, 3, 3), "nearest")[0, 0, 0, 0]
    torch.testing.assert_close(out, torch.tensor([1.0, 2.0, 3.0, 0.0]))


def test_deformable_skip_masks_and_max_over_parts():
    features = torch.randn(1, 4, 8, 8)
    identity = torch.eye(3, dtype=torch.float64).expand(1, 2, 3, 3)
    masks = torch.zeros(1, 2, 32, 32)
    masks[0, 0, :16] = 1  # top half at image level -> rows 0..3 at the /4 level
    out = deform.deformable_skip(features, identity, masks, (32, 32))
    expected = torch.zeros_like(features)
    expected[..., :4, :] = features[..., :4, :].clamp(min=0)  # max with the zero copy of part 1
    torch.testing.assert_close(out, expected)


def test_scalar_instance_norm_against_numpy():
    x = torch.randn(3, 5, 4, 6) * 3 + 1
    norm = deform.ScalarInstanceNorm()
    with torch.no_grad():
        norm.weight.fill_(1.5)
        norm.bias.fill_(-0.25)
    a = x.numpy().astype(np.float64)
    mean = a.mean(axis=(1, 2, 3), keepdims=True)
    std = np.sqrt(((a - mean) ** 2).mean(axis=(1, 2, 3), keepdims=True))
    expected = 1.5 * (a - mean) / (std + 1e-3) - 0.25
    np.testing.assert_allclose(norm(x).detach().numpy(), expected, rtol=1e-5, atol=1e-5)
    assert sum(p.numel() for p in norm.parameters()) == 2


@pytest.mark.parametrize("size", [3, 5])
def test_nn_loss_against_brute_force(size):
    gen = torch.randn(2, 3, 5, 4)
    ref = torch.randn(2, 3, 5, 4)
    pad = size // 2
    total = 0.0
    for b in range(2):
        for i in range(5):
            for j in range(4):
                best = np.inf
                for di in range(-pad, pad + 1):
                    for dj in range(-pad, pad + 1):
                        y, x = i + di, j + dj
                        r = ref[b, :, y, x] if 0 <= y < 5 and 0 <= x < 4 else torch.full((3,), -10000.0)
                        best = min(best, float((r - gen[b, :, i, j]).abs().sum()))
                total += best
    torch.testing.assert_close(deform.nn_loss(gen, ref, size), torch.tensor(total / 40), rtol=1e-5, atol=1e-5)
    assert float(deform.nn_loss(ref, ref, size)) == 0.0
