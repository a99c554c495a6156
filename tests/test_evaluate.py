"""`bench evaluate` end to end on a tiny dataset built here (4 test images, 4 pairs).

A per-pair L1 metric registered only for these tests (``monkeypatch`` on the registry)
gives hand-checkable numbers: 0 for copies of the targets, the mean absolute
difference for copies of the sources.
"""
from __future__ import annotations

import csv
import json
import shutil
import sys

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from bench.cards import MetricSpec
from bench.cli import app, main
from bench.data.annotations import read_pairs, write_annotations, write_pairs
from bench.data.keypoints import MISSING
from bench.errors import BenchError, DataError
from bench.evaluate import EvalConfig, evaluate, generated_name, scores
from bench.metrics.base import MetricResult
from bench.registry import METRICS, Entry, UnknownNameError

SIZE = (128, 64)
NAMES = ["0001_c1s1_000001_01.jpg", "0001_c2s1_000002_01.jpg", "0002_c1s1_000003_01.jpg", "0002_c3s1_000004_01.jpg"]
PAIRS = [(NAMES[0], NAMES[1]), (NAMES[1], NAMES[0]), (NAMES[2], NAMES[3]), (NAMES[3], NAMES[2])]


def person(rng: np.random.Generator) -> np.ndarray:
    kp = np.full((18, 2), MISSING, np.int64)
    kp[:14, 0] = rng.integers(30, 127, 14)
    kp[:14, 1] = rng.integers(2, 62, 14)
    kp[0], kp[1], kp[14], kp[15] = (10, 30), (28, 33), (7, 27), (8, 35)  # head box 21 x 8
    return kp


@pytest.fixture
def dataset(tmp_path):
    rng = np.random.default_rng(0)
    root = tmp_path / "market"
    (root / "test").mkdir(parents=True)
    annotations = {}
    for name in NAMES:
        Image.fromarray(rng.integers(0, 256, (*SIZE, 3), dtype=np.uint8)).save(root / "test" / name, quality=90)
        annotations[name] = person(rng)
    write_annotations(root / "market-annotation-test.csv", annotations)
    write_pairs(root / "pairs-test.csv", PAIRS)
    return root


def read(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def l1(inputs, protocol) -> MetricResult:
    diff = np.abs(inputs.generated.astype(np.float64) - inputs.targets.astype(np.float64))
    return MetricResult.from_scores(diff.mean(axis=(1, 2, 3)) / 255)


@pytest.fixture
def l1_metric(monkeypatch):
    METRICS.names()  # run the lazy registration first
    entry = Entry("test-l1", l1, MetricSpec(label="L1", higher_is_better=False, decimals=3, paper="test", version="1", per_pair=True))
    monkeypatch.setitem(METRICS._entries, "test-l1", entry)


def write_generated(folder, dataset, source_side: bool, name=generated_name, fmt="PNG"):
    """Copies of each pair's source (or target) image, under the name ``name(from, to)``."""
    folder.mkdir(parents=True, exist_ok=True)
    for a, b in PAIRS:
        Image.fromarray(read(dataset / "test" / (a if source_side else b))).save(folder / name(a, b), format=fmt)
    return folder


def run(tmp_path, dataset, generated, **kw):
    out = tmp_path / "out" / "result.json"
    kw.setdefault("metrics", ("test-l1", "pckh"))
    return evaluate(EvalConfig(generated_dir=generated, dataset=dataset, out=out, progress=False, **kw)), out


def pckh_csv(tmp_path, dataset, key=lambda a, b: f"{a}___{b}_vis.jpg"):
    """What OpenPose would write for perfect generations: each target's own keypoints."""
    from bench.data.annotations import read_annotations

    truth = read_annotations(dataset / "market-annotation-test.csv")
    path = tmp_path / "pckh.csv"
    write_annotations(path, {key(a, b): truth[b] for a, b in PAIRS})
    return path


def test_copies_of_targets_score_perfectly(tmp_path, dataset, l1_metric):
    generated = write_generated(tmp_path / "gen", dataset, source_side=False)
    estimator = pckh_csv(tmp_path, dataset)
    ev, out = run(tmp_path, dataset, generated, estimator=f"csv:{estimator}")
    record = json.loads(out.read_text())
    assert record["metrics"]["test-l1"]["value"] == 0.0 and record["metrics"]["test-l1"]["higher_is_better"] is False
    assert record["metrics"]["pckh"]["value"] == 1.0 and record["metrics"]["pckh"]["higher_is_better"] is True
    assert record["metrics"]["pckh"]["details"]["total"] == 4 * 16 and record["metrics"]["pckh"]["details"]["skipped_images"] == 0
    assert record["estimator"].startswith(f"csv:{estimator}") and record["metrics"]["pckh"]["details"]["estimator"] == record["estimator"]
    assert record["pairs"] == {"expected": 4, "evaluated": 4, "missing": 0, "coverage": 1.0}
    assert record["generated"]["format"] == "single" and record["model"] == "gen"
    assert record["protocol"]["name"] == "paper" and record["protocol"]["ssim_kernel"] == "legacy-13"
    prov = record["provenance"]
    assert {"git_commit", "versions", "timestamp", "device"} <= prov.keys() and prov["versions"]["torch"]
    assert record["per_pair_csv"] == "result.per-pair.csv"
    # The flat file DVC tracks as metrics: the available values, the same numbers as the record.
    assert json.loads((out.parent / "result.scores.json").read_text()) == {"pckh": 1.0, "test-l1": 0.0}


def test_scores_file_leaves_out_unavailable_metrics():
    results = {"ssim": MetricResult(0.25), "fid": MetricResult.unavailable("no weights"), "pckh": MetricResult(0.5)}
    assert scores(results) == {"pckh": 0.5, "ssim": 0.25}


def test_copies_of_sources_give_the_hand_computed_l1_and_per_pair_csv(tmp_path, dataset, l1_metric):
    generated = write_generated(tmp_path / "gen", dataset, source_side=True)
    ev, out = run(tmp_path, dataset, generated, metrics=("test-l1",))
    expected = [np.abs(read(dataset / "test" / a).astype(float) - read(dataset / "test" / b)).mean() / 255 for a, b in PAIRS]
    assert json.loads(out.read_text())["metrics"]["test-l1"]["value"] == pytest.approx(np.mean(expected), rel=1e-12)
    rows = list(csv.DictReader((out.parent / "result.per-pair.csv").open()))
    assert [(r["from"], r["to"]) for r in rows] == PAIRS
    assert [float(r["test-l1"]) for r in rows] == pytest.approx(expected, rel=1e-12)


def composite(dataset, a, b, generated_image):
    blank = np.zeros((*SIZE, 3), np.uint8)
    panels = [read(dataset / "test" / a), blank, read(dataset / "test" / b), blank, generated_image]
    return Image.fromarray(np.concatenate(panels, axis=1))


def test_patn_composites_give_the_same_numbers_as_single_images(tmp_path, dataset, l1_metric):
    single = write_generated(tmp_path / "single", dataset, source_side=True)
    patn = tmp_path / "patn"
    patn.mkdir()
    for a, b in PAIRS:  # PNG, so panel 5 is bit-identical to the single image (PATN itself saves JPEG)
        composite(dataset, a, b, read(single / generated_name(a, b))).save(patn / f"{a}___{b}_vis.png")
    metrics = ("test-l1", "pckh", *(m for m in ("ssim", "mask-ssim", "psnr") if m in METRICS))
    estimator = f"csv:{pckh_csv(tmp_path, dataset)}"
    ev_single, _ = run(tmp_path, dataset, single, metrics=metrics, estimator=estimator)
    ev_patn, _ = run(tmp_path, dataset, patn, metrics=metrics, estimator=estimator)
    assert ev_patn.record.get("generated")["format"] == "patn"
    for name in metrics:
        assert ev_patn.record.metrics[name].value == ev_single.record.metrics[name].value, name
    assert ev_single.record.metrics["test-l1"].value > 0.1


def test_jpeg_composites_and_gfla_names_are_recognised(tmp_path, dataset, l1_metric):
    single = write_generated(tmp_path / "single", dataset, source_side=True, name=lambda a, b: f"{a}___{b}.jpg", fmt="JPEG")
    gfla, patn = tmp_path / "gfla", tmp_path / "patn"
    gfla.mkdir(), patn.mkdir()
    for a, b in PAIRS:
        shutil.copy(single / f"{a}___{b}.jpg", gfla / f"{a[:-4]}_2_{b[:-4]}_vis.jpg")  # same JPEG bytes
        composite(dataset, a, b, read(single / f"{a}___{b}.jpg")).save(patn / f"{a}___{b}_vis.jpg", quality=95)
    values = {}
    for folder in (single, gfla, patn):
        ev, _ = run(tmp_path, dataset, folder, metrics=("test-l1",))
        values[ev.record.get("generated")["format"]] = ev.record.metrics["test-l1"].value
    assert values["gfla"] == values["single"]
    # Re-encoding the composite as JPEG moves pixels a little: close, not equal.
    assert values["patn"] == pytest.approx(values["single"], abs=0.01) and values["patn"] != values["single"]


def test_real_data_row_scores_targets_against_themselves(tmp_path, dataset, l1_metric):
    annotations = dataset / "market-annotation-test.csv"  # the estimator's output on the real targets
    ev, out = run(tmp_path, dataset, None, real_data=True, estimator=f"csv:{annotations}")
    assert ev.record.model == "real-data" and ev.record.get("generated") is None
    assert ev.record.metrics["test-l1"].value == 0.0 and ev.record.metrics["pckh"].value == 1.0
    if "psnr" in METRICS:  # an image against itself: +inf dB, recorded as n/a with the reason
        ev, _ = run(tmp_path, dataset, None, real_data=True, metrics=("psnr",))
        assert ev.record.metrics["psnr"].value is None and "real-data row" in ev.record.metrics["psnr"].reason


def test_pckh_without_estimator_is_na_with_reason(tmp_path, dataset, l1_metric):
    ev, out = run(tmp_path, dataset, write_generated(tmp_path / "gen", dataset, source_side=True))
    pckh = json.loads(out.read_text())["metrics"]["pckh"]
    assert pckh["value"] is None and "no pose estimator" in pckh["reason"]


def test_missing_images_are_an_error_unless_allowed(tmp_path, dataset, l1_metric):
    generated = write_generated(tmp_path / "gen", dataset, source_side=False)
    (generated / generated_name(*PAIRS[2])).unlink()
    with pytest.raises(DataError, match=rf"missing for 1 of 4 test pairs \(first: {generated_name(*PAIRS[2])}\).*--allow-missing"):
        run(tmp_path, dataset, generated)
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())
    ev, out = run(tmp_path, dataset, generated, allow_missing=True)
    assert ev.record.get("pairs") == {"expected": 4, "evaluated": 3, "missing": 1, "coverage": 0.75}
    assert len(list(csv.DictReader((out.parent / "result.per-pair.csv").open()))) == 3


def test_bad_images_are_errors_naming_the_file(tmp_path, dataset, l1_metric):
    generated = write_generated(tmp_path / "gen", dataset, source_side=False)
    bad = generated / generated_name(*PAIRS[1])
    Image.fromarray(np.zeros((64, 32, 3), np.uint8)).save(bad)
    with pytest.raises(DataError, match=bad.name):
        run(tmp_path, dataset, generated)
    bad.write_bytes(b"not a png at all")
    with pytest.raises(DataError, match=bad.name):
        run(tmp_path, dataset, generated)
    patn = tmp_path / "patn"
    patn.mkdir()
    for a, b in PAIRS:
        Image.fromarray(np.zeros((128, 4 * 64, 3), np.uint8)).save(patn / f"{a}___{b}_vis.png")
    with pytest.raises(DataError, match=r"composite is 256x128 \(WxH\), expected 5x64=320x128"):
        run(tmp_path, dataset, patn)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="no generated image for any of the 4 test pairs"):
        run(tmp_path, dataset, empty)
    assert not (tmp_path / "out").exists()


def test_non_finite_value_and_unknown_metric_write_nothing(tmp_path, dataset, monkeypatch):
    generated = write_generated(tmp_path / "gen", dataset, source_side=False)
    METRICS.names()

    def nan_metric(inputs, protocol):
        return MetricResult(value=float("nan"), per_pair=np.full(len(inputs), 0.5))

    meta = MetricSpec(label="NaN", higher_is_better=True, decimals=3, paper="-", version="1", per_pair=True)
    monkeypatch.setitem(METRICS._entries, "test-nan", Entry("test-nan", nan_metric, meta))
    with pytest.raises(BenchError, match="'test-nan' returned a non-finite value"):
        run(tmp_path, dataset, generated, metrics=("test-nan",))
    with pytest.raises(UnknownNameError, match="unknown metric 'sssim'.*Valid names: .*pckh"):
        run(tmp_path, dataset, generated, metrics=("pckh", "sssim"))
    assert not (tmp_path / "out").exists()


def test_undefined_and_infinite_pairs_are_left_out_counted_and_named(tmp_path, dataset):
    """EXCLUSION_RULE: one constant generated image (SSIM 0/0) and one exact copy of its target (PSNR +inf)
    do not abort the run; each metric's mean is over the other pairs (hand computation: np.mean of the
    finite per-pair scores), the record counts and names them, the CSV leaves their cells empty, and
    `bench compare` accepts the result."""
    from bench.compare import ModelResult, compare, read_record

    pairs = read_pairs(dataset / "pairs-test.csv")
    folder = tmp_path / "gen"
    folder.mkdir()
    for i, (a, b) in enumerate(pairs):
        target = read(dataset / "test" / b)
        image = np.full_like(target, 128) if i == 0 else target if i == 1 else np.clip(target.astype(int) + 9, 0, 255)
        Image.fromarray(image.astype(np.uint8)).save(folder / generated_name(a, b))
    ev, out = run(tmp_path, dataset, folder, metrics=("ssim", "psnr"))
    ssim, psnr = ev.results["ssim"], ev.results["psnr"]
    assert np.isnan(ssim.per_pair[0]) and np.isinf(psnr.per_pair[1])
    assert ssim.value == pytest.approx(np.mean(ssim.per_pair[1:]), abs=1e-15)
    assert psnr.value == pytest.approx(np.mean(np.delete(psnr.per_pair, 1)), abs=1e-12)
    for name, index, authors in (("ssim", 0, "nan"), ("psnr", 1, "inf")):
        excluded = ev.record.metrics[name].details["excluded_pairs"]
        assert excluded["count"] == 1 and excluded["authors_script_value"] == authors
        assert excluded["pairs"][0].startswith(f"{pairs[index][0]} -> {pairs[index][1]}")
    rows = (out.parent / ev.record.get("per_pair_csv")).read_text().splitlines()
    assert rows[1].split(",")[2] == "" and rows[2].split(",")[3] == ""
    base = ModelResult("a", out, read_record(out))
    comparison = compare([base, ModelResult("b", out, read_record(out))], n_boot=50)
    ssim_row = next(r for r in comparison.metrics if r.name == "ssim")
    assert ssim_row.differences[0].interval.mean == 0.0


def test_compare_refuses_a_per_pair_file_the_record_was_not_written_with(tmp_path, dataset, l1_metric):
    """The record, written last, lists the digests of its companions: a set mixed from two runs is caught."""
    from bench.compare import ModelResult, compare, read_record

    ev, out = run(tmp_path, dataset, write_generated(tmp_path / "gen", dataset, source_side=False))
    csv_path = out.parent / ev.record.get("per_pair_csv")
    assert set(ev.record.get("outputs_sha256")) == {csv_path.name, "result.scores.json"}
    csv_path.write_text(csv_path.read_text().replace(",", ", ", 1))
    with pytest.raises(DataError, match="is not the per-pair file result.json was written with"):
        compare([ModelResult("a", out, read_record(out)), ModelResult("b", out, read_record(out))], n_boot=10)


def test_default_metric_list_is_every_registered_metric(tmp_path, dataset, l1_metric):
    ev, _ = run(tmp_path, dataset, write_generated(tmp_path / "gen", dataset, source_side=True), metrics=None)
    assert list(ev.record.metrics) == METRICS.names()
    for name, m in ev.record.metrics.items():
        assert (m.value is not None and np.isfinite(m.value)) or m.reason, name


def test_cli_prints_table_and_writes_record(tmp_path, dataset, l1_metric):
    generated = write_generated(tmp_path / "gen", dataset, source_side=False)
    out = tmp_path / "cli" / "gen.json"
    args = ["evaluate", str(generated), "--dataset", str(dataset), "--out", str(out), "--metrics", "test-l1,pckh"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("model gen | dataset market | protocol paper | pairs 4/4 (100.0%)")
    assert any(line.split()[:3] == ["test-l1", "↓", "0.0000"] for line in lines)
    assert any(line.split()[:3] == ["pckh", "↑", "n/a"] for line in lines)
    assert json.loads(out.read_text())["pairs"]["evaluated"] == 4


def test_cli_reports_errors_with_exit_code_1(tmp_path, dataset, monkeypatch, capsys):
    out = tmp_path / "x.json"
    argv = ["bench", "evaluate", str(tmp_path), "--dataset", str(dataset), "--out", str(out), "--metrics", "sssim"]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 1
    assert "error: unknown metric 'sssim'" in capsys.readouterr().err and not out.exists()


def test_records_name_the_jpeg_decoder_and_compare_warns_when_they_differ(tmp_path, dataset, l1_metric, capsys):
    """Issue 15: the decoder decides numbers. The versions come from PIL.features, the independent source."""
    from PIL import features

    from bench.compare import ModelResult, compare, read_record

    ev, out = run(tmp_path, dataset, write_generated(tmp_path / "gen", dataset, source_side=False))
    versions = ev.record.get("provenance")["versions"]
    assert versions["libjpeg"] == features.version("jpg") and "libjpeg-turbo" in versions
    other = read_record(out)
    other.get("provenance")["versions"]["libjpeg"] = "6b"
    capsys.readouterr()
    compare([ModelResult("a", out, read_record(out)), ModelResult("b", out, other)], n_boot=10)
    assert "different JPEG decoders" in capsys.readouterr().err
    compare([ModelResult("a", out, read_record(out)), ModelResult("c", out, read_record(out))], n_boot=10)
    assert "JPEG" not in capsys.readouterr().err
