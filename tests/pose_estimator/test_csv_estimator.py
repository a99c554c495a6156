"""Keypoints supplied as an annotation CSV, looked up by the names evaluation uses."""
from __future__ import annotations

import numpy as np
import pytest

from bench.data.annotations import write_annotations
from bench.errors import DataError
from bench.pose_estimator import load_estimator
from bench.pose_estimator.csv_estimator import CsvEstimator


def kp(value: int) -> np.ndarray:
    out = np.full((18, 2), -1, np.int64)
    out[0] = (value, value)
    return out


@pytest.fixture
def csv_path(tmp_path):
    path = tmp_path / "pckh.csv"
    write_annotations(path, {
        "a.jpg___b.jpg_vis.jpg": kp(1),  # PATN pckh.csv: composite names
        "c.jpg___d.jpg.png": kp(2),  # the project's generated file name
        "e.jpg___f.jpg": kp(3),  # bare pair key
        "g_2_h_vis.jpg": kp(4),  # GFLA
        "t.jpg": kp(5),  # a target image (real-data row)
    })
    return path


def test_lookup_by_every_accepted_name(csv_path):
    estimator = load_estimator(f"csv:{csv_path}")
    assert isinstance(estimator, CsvEstimator) and str(csv_path) in estimator.name and "sha256" in estimator.name
    names = ["a.jpg___b.jpg", "c.jpg___d.jpg", "e.jpg___f.jpg", "g.jpg___h.jpg", "t.jpg", "c.jpg___d.jpg.png"]
    pred = estimator.predict(np.zeros((6, 128, 64, 3), np.uint8), names)
    assert pred[:, 0, 0].tolist() == [1, 2, 3, 4, 5, 2]
    assert (pred[:, 1:] == -1).all()


def test_unknown_name_and_wrong_frame_are_errors(csv_path, tmp_path):
    estimator = CsvEstimator(csv_path)
    with pytest.raises(DataError, match=r"pckh.csv: no keypoints for 'x.jpg___y.jpg'"):
        estimator.predict(np.zeros((1, 128, 64, 3), np.uint8), ["x.jpg___y.jpg"])
    far = tmp_path / "far.csv"
    write_annotations(far, {"a.jpg___b.jpg": np.where(kp(200) > 0, 200, -1)})
    with pytest.raises(DataError, match="outside the 128x64 image frame"):
        CsvEstimator(far).predict(np.zeros((1, 128, 64, 3), np.uint8), ["a.jpg___b.jpg"])
