"""The reduced split: counts, nesting, sources; Market names of the real annotation files."""
from __future__ import annotations

from collections import Counter

import pytest

from bench.data.annotations import read_annotations
from bench.errors import BenchError, DataError
from bench.reid.market import MarketImage
from bench.reid.split import kept_count, reduce_split


def _images(counts: dict[int, int]) -> list[MarketImage]:
    return [MarketImage.parse(f"{pid:04d}_c{1 + j % 6}s1_{j:06d}_01.jpg") for pid, n in counts.items() for j in range(n)]


def test_counts_nesting_and_sources():
    images = _images({2: 10, 7: 3, 9: 1})
    by_p = {p: reduce_split(images, p, seed=3) for p in (0.2, 0.4, 0.6, 0.8, 1.0)}
    for p, split in by_p.items():
        kept = Counter(n.split("_")[0] for n in split.kept)
        # floor(p*n + 0.5), at least one: p=0.2 keeps 2 of 10, 1 of 3, 1 of 1.
        assert kept == {"0002": kept_count(10, p), "0007": kept_count(3, p), "0009": 1}
        assert len(split.kept) + len(split.removed) == len(images) and split.identities == 3
        assert {b for _, b in split.removed}.isdisjoint(split.kept)
        assert all(a in split.kept and a.split("_")[0] == b.split("_")[0] for a, b in split.removed)
    assert (kept_count(10, 0.2), kept_count(3, 0.2), kept_count(3, 0.6), kept_count(10, 1.0)) == (2, 1, 2, 10)
    assert by_p[1.0].removed == []
    for small, large in ((0.2, 0.4), (0.4, 0.6), (0.6, 0.8)):
        assert set(by_p[small].kept) <= set(by_p[large].kept)
    assert reduce_split(images, 0.4, seed=3) == by_p[0.4]
    assert reduce_split(images, 0.4, seed=4).kept != by_p[0.4].kept


def test_bad_input():
    with pytest.raises(BenchError, match=r"portion p must be in \(0, 1\]"):
        reduce_split(_images({1: 2}), 0.0)
    with pytest.raises(BenchError, match="junk/distractor"):
        reduce_split([MarketImage.parse("-1_c1s1_000001_01.jpg")], 0.5)
    with pytest.raises(DataError, match="not a Market-1501 name"):
        MarketImage.parse("0001_c7s1.jpg", "x/train")


def test_real_market_names_parse_and_split(shared_data):
    # Zheng et al. 2015 (Market-1501): 12,936 training images of 751 identities; 19,732 gallery
    # images of 750 test identities plus junk (-1) and distractors (0000); six cameras.
    train = [MarketImage.parse(n) for n in read_annotations(shared_data / "market" / "market-annotation-train.csv")]
    test = [MarketImage.parse(n) for n in read_annotations(shared_data / "market" / "market-annotation-test.csv")]
    assert len(train) == 12936 and len({m.person for m in train}) == 751
    assert len(test) == 19732 and len({m.person for m in test} - {-1, 0}) == 750
    assert {m.camera for m in train} == {m.camera for m in test} == set(range(1, 7))
    split = reduce_split(train, 0.2, seed=0)
    assert len({n.split("_")[0] for n in split.kept}) == 751
    assert len(split.kept) == sum(kept_count(n, 0.2) for n in Counter(m.person for m in train).values())
    assert 0.19 < len(split.kept) / len(train) < 0.25
    # The release names a few files with the suffix twice; they parse like the others.
    assert MarketImage.parse("1488_c5s3_071737_01.jpg.jpg").person == 1488
