"""The pair rule on the real annotation files reproduces the published splits (protocol.md 1.2-1.3)."""
from __future__ import annotations

import pandas as pd

from bench.data.annotations import read_annotations, read_pairs
from bench.data.layout import KINDS
from bench.data.splits import candidate_pairs, filter_images, group_by_identity, prepare


def test_market_splits_match_the_published_files(shared_data, tmp_path):
    market = shared_data / "market"
    manifest = prepare(annotations_train=market / "market-annotation-train.csv",
                       annotations_test=market / "market-annotation-test.csv", out=tmp_path)
    train, test = manifest["splits"]["train"], manifest["splits"]["test"]
    assert (train["kept"], train["identities_kept"], train["pairs"]) == (12116, 745, 263632)  # the papers' count
    assert (test["kept"], test["candidate_pairs"], test["pairs"]) == (12344, 257198, 12000)
    assert test["dropped"]["distractor"] == 3819 + 2798  # -1_* junk and 0000_* distractors
    assert not set(train["identity_list"]) & set(test["identity_list"])
    pairs = read_pairs(tmp_path / "pairs-test.csv")
    assert pairs[0] == ("0228_c6s3_006817_02.jpg", "0228_c6s1_052601_01.jpg")  # first row of market-pairs-test.csv
    assert len({to for _, to in pairs}) == 7264 and len({fr for fr, _ in pairs}) == 7220  # protocol.md 1.3
    text = (tmp_path / "pairs-train.csv").read_text()
    assert text.count("\n") == 263633 and text.startswith("from,to\n")


def test_market_test_sample_equals_pandas(shared_data, tmp_path):
    """pose-gan samples a DataFrame; building the same frame column-wise must pick the same rows."""
    ann = read_annotations(shared_data / "market" / "market-annotation-test.csv", (128, 64))
    candidates = candidate_pairs(group_by_identity(filter_images(ann).kept, KINDS["market"]))
    frame = pd.DataFrame({"from": [a for a, _ in candidates], "to": [b for _, b in candidates]})
    expected = frame.sample(n=12000, replace=False, random_state=0)
    prepare(annotations_test=shared_data / "market" / "market-annotation-test.csv", out=tmp_path)
    assert read_pairs(tmp_path / "pairs-test.csv") == list(zip(expected["from"], expected["to"]))


def test_posegan_old_fashion_test_candidates(shared_data, tmp_path):
    # pose-gan's fashion CSVs are in the 256x256 frame, not PATN's 256x176 crop.
    manifest = prepare(annotations_test=shared_data / "fashion-posegan-old" / "fasion-annotation-test.csv",
                       out=tmp_path, image_size=(256, 256))
    test = manifest["splits"]["test"]
    assert manifest["kind"] == "deepfashion" and test["images"] == 4061
    assert test["candidate_pairs"] == test["pairs"] == 8670  # fewer than 12000: a seeded shuffle of all
