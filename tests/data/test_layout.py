from __future__ import annotations

import pytest

from bench.data.layout import DatasetLayout, fashion_identity, market_identity
from bench.errors import DataError


def test_identity_rules():
    assert market_identity("0002_c1s1_000451_03.jpg") == "0002"
    assert fashion_identity("fashionWOMENDressesid0000262902_3back.jpg") == "fashionWOMENDressesid0000262902"
    # PATN names keep the category's underscore: split('_') would cut it.
    assert fashion_identity("fashionMENShirts_Polosid0000180202_4full.jpg") == "fashionMENShirts_Polosid0000180202"
    assert fashion_identity("fasionMENTeesTanksid0000347017_3back.jpg") == "fasionMENTeesTanksid0000347017"


def test_layout_detects_kind_and_pairs(tmp_path):
    (tmp_path / "fasion-resize-annotation-test.csv").write_text("name:keypoints_y:keypoints_x\n")
    layout = DatasetLayout.open(tmp_path)
    assert layout.kind.name == "deepfashion" and layout.kind.image_size == (256, 176)
    with pytest.raises(DataError, match="run `bench data prepare`"):
        layout.pairs("test")
    (tmp_path / "fasion-resize-pairs-test.csv").write_text("from,to\n")
    assert layout.pairs("test").name == "fasion-resize-pairs-test.csv"
    prepared = tmp_path / "prepared"
    prepared.mkdir()
    (prepared / "pairs-test.csv").write_text("from,to\n")
    assert DatasetLayout.open(tmp_path, prepared).pairs("test") == prepared / "pairs-test.csv"


def test_layout_rejects_non_dataset(tmp_path):
    with pytest.raises(DataError, match="not a dataset folder"):
        DatasetLayout.open(tmp_path)
    with pytest.raises(DataError, match="does not exist"):
        DatasetLayout.open(tmp_path / "nope")
