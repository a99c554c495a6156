"""PCKh against hand-computed values (PATN tool/calPCKH_market.py rules)."""
from __future__ import annotations

import numpy as np
import pytest

from bench.metrics.pckh import head_boxes, pckh

M = -1


def person(points: dict[int, tuple[int, int]]) -> np.ndarray:
    kp = np.full((18, 2), M, dtype=np.int64)
    for i, (y, x) in points.items():
        kp[i] = (y, x)
    return kp


# Head box from nose (10, 20), neck (30, 28), r_eye (8, 16): hy = 30-8 = 22, hx = 28-16 = 12.
HEAD = {0: (10, 20), 1: (30, 28), 14: (8, 16)}


def test_head_box_uses_present_head_points_only():
    target = person({**HEAD, 4: (100, 60)})  # the wrist is not a head point
    sizes, valid = head_boxes(target[None])
    assert valid.tolist() == [True]
    assert sizes[0].tolist() == [22.0, 12.0]  # (hy, hx)


def test_exact_prediction_scores_one():
    target = person({**HEAD, 2: (40, 10), 5: (40, 40)})
    value, details = pckh(target[None], target[None])
    assert value == 1.0 and details["correct"] == 5 and details["total"] == 5


def test_strict_inequality_on_each_axis_separately():
    # Thresholds: |dy| < 0.5*22 = 11, |dx| < 0.5*12 = 6.
    target = person({**HEAD, 8: (60, 30)})
    cases = {
        (70, 35): True,  # dy 10, dx 5: inside both
        (71, 30): False,  # dy 11 == 11: not strictly less
        (60, 36): False,  # dx 6 == 6: not strictly less
        (60, 35): True,
        (49, 30): False,  # dy -11: the boundary fails on both sides
        (50, 25): True,
        (60, 24): False,  # dx -6
        # A point 10 px away in x fails although its Euclidean distance (10) is
        # below the box diagonal: the axes are judged separately.
        (60, 40): False,
    }
    for (y, x), expected in cases.items():
        pred = target.copy()
        pred[8] = (y, x)
        _, details = pckh(pred[None], target[None])
        assert details["correct"] == 3 + int(expected), (y, x)
        assert details["total"] == 4


def test_missing_prediction_is_wrong_and_missing_target_not_counted():
    target = person({**HEAD, 2: (40, 10), 5: (40, 40)})
    pred = target.copy()
    pred[2] = (M, M)  # estimator did not find it: wrong
    pred[9] = (50, 50)  # target has no r_knee: neither counted nor rewarded
    value, details = pckh(pred[None], target[None])
    assert details == {"correct": 4, "total": 5, "images": 1, "skipped_images": 0, "alpha": 0.5}
    assert value == pytest.approx(0.8)


def test_image_with_fewer_than_two_head_points_is_skipped():
    good = person({**HEAD, 2: (40, 10)})
    one_head_point = person({0: (10, 20), 2: (40, 10), 5: (40, 40), 8: (60, 12)})
    pred = np.stack([good, np.full((18, 2), M)])  # second prediction is all wrong, but skipped
    value, details = pckh(pred, np.stack([good, one_head_point]))
    assert details["skipped_images"] == 1 and details["total"] == 4
    assert value == 1.0


def test_degenerate_head_box_makes_every_point_wrong():
    # Nose and neck on the same column: hx = 0, and |dx| < 0 never holds (as in the original).
    target = person({0: (10, 20), 1: (30, 20), 2: (40, 10)})
    value, details = pckh(target[None], target[None])
    assert value == 0.0 and details["total"] == 3


def test_pooled_over_keypoints_not_averaged_over_images():
    a = person({**HEAD, 2: (40, 10), 3: (50, 8), 4: (60, 6), 5: (40, 40), 6: (50, 42), 7: (60, 44)})  # 9 points
    b = person({0: (10, 20), 1: (30, 28)})  # 2 points
    pred_a = a.copy()  # all 9 right
    pred_b = np.full((18, 2), M)  # 0 of 2 right
    value, details = pckh(np.stack([pred_a, pred_b]), np.stack([a, b]))
    assert (details["correct"], details["total"]) == (9, 11)
    assert value == pytest.approx(9 / 11)
    assert value != pytest.approx((1.0 + 0.0) / 2)  # the per-image mean would be 0.5


def test_no_usable_image_gives_none_and_shape_is_checked():
    lonely = person({0: (10, 20), 2: (40, 10)})
    value, details = pckh(lonely[None], lonely[None])
    assert value is None and details["skipped_images"] == 1
    with pytest.raises(ValueError, match="18, 2"):
        pckh(np.zeros((1, 17, 2)), np.zeros((1, 17, 2)))
