"""Multi-source tuples at use time: which file serves n sources, per-tuple names, and
`bench generate/evaluate --sources n` on a hand-written tuple file.

The tuple file repeats a (from_1, to) pair on purpose (real tuple files do: an identity
with m images gives m(m-1) tuples drawn at random, as many as its ordered pairs), so the
per-tuple naming is exercised. ``source-copy`` makes hand-checkable images: with n = 1
each tuple's output is its first source.
"""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from bench.cards import MetricSpec
from bench.cli import app
from bench.train.run import generate
from bench.compare import read_per_pair
from bench.data.annotations import write_annotations
from bench.data.keypoints import MISSING
from bench.data.layout import DatasetLayout
from bench.data.multisource import NAMING_RULE, pair_keys, tuple_file
from bench.data.splits import format_tuples, read_tuples
from bench.errors import BenchError, DataError
from bench.evaluate import EvalConfig, evaluate
from bench.metrics.base import MetricResult
from bench.registry import METRICS, Entry

SIZE = (128, 64)
A = [f"0001_c{c}s1_00000{c}_01.jpg" for c in range(1, 5)]
B = [f"0002_c{c}s1_00001{c}_01.jpg" for c in range(1, 5)]
TUPLES = [  # (to, (from_1, from_2, from_3)); rows 1 and 2 share (from_1, to) = (A[1], A[0])
    (A[0], (A[1], A[2], A[3])),
    (A[0], (A[1], A[3], A[2])),
    (A[1], (A[0], A[2], A[3])),
    (B[0], (B[1], B[2], B[3])),
    (B[2], (B[3], B[0], B[1])),
]
KEYS = [(A[1], A[0]), (f"{A[1]}~2", A[0]), (A[0], A[1]), (B[1], B[0]), (B[3], B[2])]


def person(rng: np.random.Generator) -> np.ndarray:
    kp = np.full((18, 2), MISSING, np.int64)
    kp[:14, 0] = rng.integers(30, 127, 14)
    kp[:14, 1] = rng.integers(2, 62, 14)
    return kp


def read(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


@pytest.fixture
def dataset(tmp_path):
    """Test images of two people, their annotations, and msource-test-k3.csv in a prepared folder."""
    rng = np.random.default_rng(0)
    root = tmp_path / "market"
    (root / "test").mkdir(parents=True)
    for name in A + B:
        Image.fromarray(rng.integers(0, 256, (*SIZE, 3), dtype=np.uint8)).save(root / "test" / name, quality=90)
    write_annotations(root / "market-annotation-test.csv", {n: person(rng) for n in A + B})
    prepared = tmp_path / "prepared"
    prepared.mkdir()
    (prepared / "msource-test-k3.csv").write_text(format_tuples(TUPLES, 3))
    return root, prepared


@pytest.fixture
def l1_metric(monkeypatch):
    def l1(inputs, protocol) -> MetricResult:
        diff = np.abs(inputs.generated.astype(np.float64) - inputs.targets.astype(np.float64))
        return MetricResult.from_scores(diff.mean(axis=(1, 2, 3)) / 255)

    METRICS.names()  # the lazy registration first
    monkeypatch.setitem(METRICS._entries, "test-l1", Entry("test-l1", l1, MetricSpec(label="L1", higher_is_better=False, decimals=3, paper="test", version="1", per_pair=True)))


def test_the_smallest_prepared_k_at_least_n_serves_n(tmp_path):
    root, prepared = tmp_path / "root", tmp_path / "prepared"
    root.mkdir(), prepared.mkdir()
    (root / "market-annotation-test.csv").write_text("")
    for folder, k in ((prepared, 3), (prepared, 12), (root, 20), (prepared, 1)):
        (folder / f"msource-test-k{k}.csv").write_text("")
    (prepared / "msource-train-k5.csv").write_text("")  # another split: never chosen for test
    layout = DatasetLayout.open(root, prepared)
    assert [tuple_file(layout, "test", n).name for n in (1, 2, 3, 4, 12)] == [
        "msource-test-k1.csv", "msource-test-k3.csv", "msource-test-k3.csv", "msource-test-k12.csv", "msource-test-k12.csv"]
    assert tuple_file(layout, "test", 13) == root / "msource-test-k20.csv"  # the root when the prepared folder has none
    with pytest.raises(DataError, match=r"at least 21 sources.*k1, k3, k12.*--multi-source 21"):
        tuple_file(layout, "test", 21)
    assert tuple_file(layout, "train", 2) == prepared / "msource-train-k5.csv"  # test files never serve train
    with pytest.raises(DataError, match=r"train tuples with at least 6 sources \(found \S*prepared: k5; \S*root: none\)"):
        tuple_file(layout, "train", 6)
    with pytest.raises(BenchError, match=">= 1"):
        tuple_file(layout, "test", 0)


def test_pair_keys_are_unique_and_the_same_for_every_n(dataset):
    path = dataset[1] / "msource-test-k3.csv"
    assert pair_keys(read_tuples(path, 3)) == KEYS
    assert pair_keys(read_tuples(path, 1)) == KEYS
    assert read_tuples(path, 1)[1] == (A[0], (A[1],))  # n = 1: the first source of the same rows
    with pytest.raises(DataError, match="collide"):
        pair_keys([("t.jpg", ("s.jpg",)), ("t.jpg", ("s.jpg",)), ("t.jpg", ("s.jpg~2",))])


def test_one_source_generation_and_evaluation_by_hand(dataset, tmp_path, l1_metric):
    root, prepared = dataset
    gen = generate("source-copy", root, tmp_path / "gen", pairs_dir=prepared, sources=1, batch_size=2, progress=False)
    assert sorted(p.name for p in gen.glob("*.png")) == sorted(f"{a}___{b}.png" for a, b in KEYS)
    for (to, sources), (key, _) in zip(TUPLES, KEYS):  # single-source models see the first source only
        assert np.array_equal(read(gen / f"{key}___{to}.png"), read(root / "test" / sources[0]))
    info = json.loads((gen / "generation.json").read_text())
    assert info["sources"] == 1 and info["tuples"] == str(prepared / "msource-test-k3.csv")
    assert info["count"] == len(TUPLES) and info["names"] == NAMING_RULE

    out = tmp_path / "eval" / "result.json"
    evaluate(EvalConfig(generated_dir=gen, dataset=root, out=out, pairs_dir=prepared, metrics=("test-l1",),
                        sources=1, progress=False))
    record = json.loads(out.read_text())
    expected = [np.abs(read(root / "test" / src[0]).astype(float) - read(root / "test" / to)).mean() / 255
                for to, src in TUPLES]
    assert record["metrics"]["test-l1"]["value"] == pytest.approx(np.mean(expected), rel=1e-12)
    assert record["sources"] == 1 and record["tuples_file"] == str((prepared / "msource-test-k3.csv").resolve())
    assert record["dataset"]["pairs_file"] == record["tuples_file"]
    assert record["pairs"] == {"expected": 5, "evaluated": 5, "missing": 0, "coverage": 1.0}
    rows = list(csv.DictReader((out.parent / "result.per-pair.csv").open()))
    assert [(r["from"], r["to"]) for r in rows] == KEYS
    assert [float(r["test-l1"]) for r in rows] == pytest.approx(expected, rel=1e-12)
    pairs, scores = read_per_pair(out.parent / "result.per-pair.csv")  # bench compare accepts it: keys are unique
    assert pairs == KEYS and scores["test-l1"] == pytest.approx(expected, rel=1e-12)


def test_mismatched_sources_and_formats_are_refused(dataset, tmp_path, l1_metric):
    root, prepared = dataset
    gen = generate("source-copy", root, tmp_path / "gen", pairs_dir=prepared, sources=1, progress=False)
    out = tmp_path / "eval" / "result.json"
    config = dict(generated_dir=gen, dataset=root, out=out, pairs_dir=prepared, metrics=("test-l1",), progress=False)
    with pytest.raises(DataError, match="generated with sources=1 but are evaluated with --sources 3"):
        evaluate(EvalConfig(**config, sources=3))
    with pytest.raises(DataError, match="generated with sources=1 but are evaluated with --sources 0"):
        evaluate(EvalConfig(**config))
    with pytest.raises(BenchError, match="format single"):
        evaluate(EvalConfig(**config, sources=1, format="patn"))
    with pytest.raises(BenchError, match="single source image.*msdefgan"):
        generate("patn", root, tmp_path / "g3", pairs_dir=prepared, sources=3, progress=False)
    assert not out.exists() and not (tmp_path / "g3").exists()


def test_cli_generate_and_evaluate_with_sources(dataset, tmp_path, l1_metric):
    root, prepared = dataset
    runner = CliRunner()
    gen = tmp_path / "gen"
    result = runner.invoke(app, ["generate", "source-copy", "--dataset", str(root), "--pairs-dir", str(prepared),
                                 "--out", str(gen), "--sources", "1", "--quiet"])
    assert result.exit_code == 0, result.output
    out = tmp_path / "result.json"
    result = runner.invoke(app, ["evaluate", str(gen), "--dataset", str(root), "--pairs-dir", str(prepared),
                                 "--out", str(out), "--metrics", "test-l1", "--sources", "1"])
    assert result.exit_code == 0, result.output
    assert "pairs 5/5" in result.output and "1 source(s) per target" in result.output
    assert json.loads(out.read_text())["sources"] == 1
