from __future__ import annotations

import numpy as np
import pytest

from bench.data.annotations import (
    format_annotations,
    format_pairs,
    read_annotations,
    read_pairs,
    write_annotations,
    write_pairs,
)
from bench.errors import DataError

GOOD_ROW = "a_c1s1_000001_01.jpg: [8, 23, 23, 43, 60, 23, 43, 60, 64, 92, 118, 65, 89, 108, 5, 6, 7, 8]: [39, 37, 20, 12, 8, 53, 59, 53, 22, 24, 24, 43, 43, 45, 36, 42, 31, 47]"
HEADER = "name:keypoints_y:keypoints_x"


@pytest.mark.parametrize(
    "path",
    ["market/market-annotation-train.csv", "market/market-annotation-test.csv", "fashion-posegan-old/fasion-annotation-test.csv"],
)
def test_real_files_round_trip_byte_for_byte(shared_data, path):
    text = (shared_data / path).read_text()
    annotations = read_annotations(shared_data / path)
    assert format_annotations(annotations) == text


def test_real_market_values(shared_data):
    ann = read_annotations(shared_data / "market/market-annotation-train.csv", image_size=(128, 64))
    assert len(ann) == 12936
    kp = ann["0224_c6s1_055726_02.jpg"]
    assert kp.shape == (18, 2)
    assert kp[0].tolist() == [8, 39]  # (y, x) of the nose
    assert (np.concatenate(list(ann.values())) == -1).sum() == 2 * 59740  # 25.7% missing, protocol.md 1.1


def write(tmp_path, *rows, header=HEADER):
    path = tmp_path / "ann.csv"
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("x.jpg: [1, 2]", "expected 3"),
        ("x.jpg: [1, 2: [3]", "not a JSON list"),
        ("x.jpg: [1, 2, 3]: [1, 2, 3]", "list of 18 integers, got 3"),
        ("x.jpg: " + str([1.5] * 18) + ": " + str([1] * 18), "integers only"),
        ("x.jpg: " + str([-1] + [1] * 17) + ": " + str([1] * 18), "only one coordinate"),
        ("x.jpg: " + str([200] * 18) + ": " + str([1] * 18), "outside the 128x64 image"),
    ],
)
def test_malformed_rows_name_file_and_line(tmp_path, row, message):
    path = write(tmp_path, GOOD_ROW, row)
    with pytest.raises(DataError, match=message) as err:
        read_annotations(path, image_size=(128, 64))
    assert f"{path}:3:" in str(err.value)


def test_bad_header_and_duplicates(tmp_path):
    with pytest.raises(DataError, match=":1: first line must be the header"):
        read_annotations(write(tmp_path, GOOD_ROW, header="name,y,x"))
    with pytest.raises(DataError, match=":3: duplicate image name"):
        read_annotations(write(tmp_path, GOOD_ROW, GOOD_ROW))
    with pytest.raises(DataError, match="absent.csv: annotation file does not exist"):
        read_annotations(tmp_path / "absent.csv")


def test_writers_round_trip(tmp_path):
    ann = {"b.jpg": np.arange(36).reshape(18, 2), "a.jpg": -np.ones((18, 2), dtype=int)}
    write_annotations(tmp_path / "a.csv", ann)
    back = read_annotations(tmp_path / "a.csv")
    assert list(back) == ["b.jpg", "a.jpg"]  # file order is kept: pair order depends on it
    assert all(np.array_equal(back[k], ann[k]) for k in ann)
    pairs = [("a.jpg", "b.jpg"), ("b.jpg", "a.jpg")]
    write_pairs(tmp_path / "p.csv", pairs)
    assert (tmp_path / "p.csv").read_text() == "from,to\na.jpg,b.jpg\nb.jpg,a.jpg\n" == format_pairs(pairs)
    assert read_pairs(tmp_path / "p.csv") == pairs


def test_pairs_errors(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("source,target\na,b\n")
    with pytest.raises(DataError, match=":1: header must contain"):
        read_pairs(path)
    path.write_text("from,to\na,b\na,b,c\n")
    with pytest.raises(DataError, match=":3: expected 2"):
        read_pairs(path)
