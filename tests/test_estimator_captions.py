"""Tables say which pose estimator produced each PCKh: the leaderboard's and the seed tables' captions."""
from __future__ import annotations

import json
from pathlib import Path

from bench.leaderboard import load_published, load_results
from bench.report import _dataset_names, leaderboard, paper_tables

REPO = Path(__file__).resolve().parents[1]
RTM = "RTMPose-m body7 256x192 (OpenMMLab ONNX) (sha256 5c0a4bf67953; onnxruntime 1.31.1)"
HEAT = "heatmap:runs/pose.pt (sha256 0123456789ab)"


def record(model: str, pckh: float | None, estimator: str | None, kind: str = "market") -> dict:
    """The shape `bench evaluate` writes: the estimator in the record and in the PCKh details."""
    details = {"estimator": estimator} if estimator else {}
    return {
        "model": model, "estimator": estimator,
        "dataset": {"kind": kind, "root": f"data/synth-{kind}"}, "protocol": {"name": "paper"},
        "metrics": {
            "ssim": {"value": 0.31, "reason": None, "higher_is_better": True},
            "pckh": {"value": pckh, "reason": None if pckh is not None else "no pose estimator",
                     "higher_is_better": True, "details": details},
        },
    }


def report(tmp_path: Path, rows) -> Path:
    metrics = tmp_path / "metrics"
    for model, pckh, estimator, *kind in rows:
        path = metrics / f"{model}-{''.join(kind)}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(record(model, pckh, estimator, *kind)))
    out = tmp_path / "out"
    # the leaderboard and the seed tables as `bench report` writes them, without its figures (the slow part;
    # tests/pose_estimator/test_rtmpose.py runs the command itself)
    ours = load_results(metrics)
    md, tex = leaderboard(ours, _dataset_names(ours))
    out.mkdir()
    (out / "leaderboard.md").write_text(md)
    (out / "leaderboard.tex").write_text(tex)
    paper_tables(load_published(REPO / "results" / "published.csv"), ours, out / "tables")
    return out


def test_one_estimator_is_named_in_every_caption(tmp_path):
    out = report(tmp_path, [("patn", 0.9, RTM), ("pona", 0.8, RTM), ("vunet", None, None)])
    board = (out / "leaderboard.md").read_text()
    assert f"Measured PCKh: keypoints of the generated images found by {RTM}." in board
    assert f"% Measured PCKh: keypoints of the generated images found by {RTM}." in (out / "leaderboard.tex").read_text()
    pona = (out / "tables" / "li2020pona-table-i.md").read_text()  # the seed table with a PCKh column
    assert f"found by {RTM}." in pona and "Published PCKh: the CMU OpenPose model" in pona
    assert "Published PCKh: the CMU OpenPose model" in (out / "tables" / "li2020pona-table-i.tex").read_text()
    # a table without PCKh says nothing about estimators
    assert "PCKh" not in (out / "tables" / "horiuchi2021-table-1.md").read_text().split("\n\n")[-1]


def test_different_estimators_are_named_per_model(tmp_path):
    out = report(tmp_path, [("patn", 0.9, RTM), ("pona", 0.8, HEAT)])
    board = (out / "leaderboard.md").read_text()
    assert f"found by {RTM} (patn); {HEAT} (pona). PCKh of different estimators are not comparable." in board


def test_a_pckh_without_a_named_estimator_says_so(tmp_path):
    out = report(tmp_path, [("patn", 0.9, None)])
    assert "found by an estimator the record does not name" in (out / "leaderboard.md").read_text()


def test_no_measured_pckh_no_estimator_sentence(tmp_path):
    out = report(tmp_path, [("patn", None, None)])
    assert "Measured PCKh" not in (out / "leaderboard.md").read_text()


def test_one_estimator_per_dataset_is_named_with_its_dataset(tmp_path):
    out = report(tmp_path, [("patn", 0.9, RTM, "market"), ("pona", 0.8, RTM, "market"),
                            ("patn", 0.7, HEAT, "deepfashion"), ("pona", 0.6, HEAT, "deepfashion")])
    board = (out / "leaderboard.md").read_text()
    assert f"found by {HEAT} on DeepFashion and {RTM} on Market-1501." in board  # the columns' order
    assert "not comparable" not in board
