"""`bench train` / `bench generate` end to end on a tiny dataset in the release layout."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from bench.cli import app
from bench.data.annotations import write_annotations, write_pairs

REPO = Path(__file__).resolve().parents[2]
H, W = 128, 64
TINY = ["--set", "model.width=0.0625", "--set", "model.n_blocks=1", "--set", "threads=1"]


def _person(rng: np.random.Generator) -> np.ndarray:
    """18 keypoints (y, x) inside a 128x64 frame, a few missing."""
    kp = np.stack([rng.integers(4, H - 4, 18), rng.integers(4, W - 4, 18)], 1)
    kp[rng.choice(18, 3, replace=False)] = -1
    return kp


@pytest.fixture(scope="module")
def market(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("market")
    rng = np.random.default_rng(0)
    for split, count in (("train", 4), ("test", 3)):
        (root / split).mkdir()
        names = [f"{i:04d}_c1s1_{split}_{j:02d}.jpg" for i in range(count) for j in range(2)]
        for name in names:
            Image.fromarray(rng.integers(0, 256, (H, W, 3), dtype=np.uint8)).save(root / split / name, quality=95)
        write_annotations(root / f"market-annotation-{split}.csv", {n: _person(rng) for n in names})
        write_pairs(root / f"pairs-{split}.csv", [(a, b) for a in names for b in names if a != b and a[:4] == b[:4]])
    return root


def _invoke(*args: str):
    result = CliRunner().invoke(app, [str(a) for a in args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def test_train_then_generate_then_resume(market, tmp_path):
    run = tmp_path / "run"
    result = _invoke("train", "patn", "--dataset", market, "--profile", "cpu", "--params", REPO / "params.yaml",
                     "--out", run, "--iterations", 2, *TINY)
    assert result.exit_code == 0, result.output
    meta = json.loads((run / "meta.json").read_text())
    assert meta["status"] == "finished" and meta["model"] == "patn" and meta["dataset"] == "market"
    assert meta["model_metadata"]["perceptual"].startswith("off")  # the cpu profile switches VGG off, on record
    assert meta["config"]["model"]["width"] == 0.0625 and meta["provenance"]["seed"] == 0
    rows = list(csv.DictReader((run / "train_log.csv").open()))
    assert [r["step"] for r in rows] == ["2"] and {"G/l1", "G/gan", "D_PB/real", "D_PP/fake"} <= set(rows[0])

    gen = tmp_path / "gen"
    assert _invoke("generate", "patn", "--dataset", market, "--checkpoint", run, "--out", gen).exit_code == 0
    pairs = [line.split(",") for line in (market / "pairs-test.csv").read_text().splitlines()[1:]]
    names = sorted(p.name for p in gen.glob("*.png"))
    assert names == sorted(f"{a}___{b}.png" for a, b in pairs)
    info = json.loads((gen / "generation.json").read_text())
    assert info["count"] == len(pairs) and info["step"] == 2 and info["checkpoint"].endswith("model.pt")
    assert np.asarray(Image.open(gen / names[0])).shape == (H, W, 3)

    # Same run, longer: --resume continues from step 2.
    assert _invoke("train", "patn", "--dataset", market, "--profile", "cpu", "--params", REPO / "params.yaml",
                   "--out", run, "--iterations", 3, "--resume", *TINY).exit_code == 0
    meta = json.loads((run / "meta.json").read_text())
    assert meta["step"] == 3 and meta["resumed_at"] == [2]
    # ...but not with a different training setup.
    result = CliRunner().invoke(app, ["train", "patn", "--dataset", str(market), "--params", str(REPO / "params.yaml"),
                                      "--out", str(run), "--iterations", "4", "--resume", *TINY, "--set", "lr_g=1e-3"])
    assert result.exit_code != 0 and "lr_g" in str(result.exception)


def test_source_copy_generates_without_a_checkpoint_and_is_lossless(market, tmp_path):
    gen = tmp_path / "copy"
    assert _invoke("generate", "source-copy", "--dataset", market, "--out", gen, "--batch-size", 4).exit_code == 0
    first = (market / "pairs-test.csv").read_text().splitlines()[1].split(",")
    out = np.asarray(Image.open(gen / f"{first[0]}___{first[1]}.png"))
    assert np.array_equal(out, np.asarray(Image.open(market / "test" / first[0]).convert("RGB")))
    assert json.loads((gen / "generation.json").read_text())["checkpoint"] is None


def test_clear_errors_for_untrainable_and_missing_checkpoint(market, tmp_path):
    from bench.errors import BenchError

    with pytest.raises(BenchError, match="reference row"):
        _invoke("train", "source-copy", "--dataset", market, "--out", tmp_path / "r", "--params", REPO / "params.yaml")
    with pytest.raises(BenchError, match="--checkpoint"):
        _invoke("generate", "patn", "--dataset", market, "--out", tmp_path / "g")
    assert not (tmp_path / "g").exists()


def test_paper_run_stops_when_vgg_weights_are_missing(market, tmp_path, monkeypatch):
    from bench.weights import WeightsMissing

    monkeypatch.delenv("BENCH_WEIGHTS_DIR", raising=False)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    with pytest.raises(WeightsMissing, match="vgg19"):
        _invoke("train", "patn", "--dataset", market, "--profile", "paper", "--params", REPO / "params.yaml",
                "--out", tmp_path / "paper", "--iterations", 1, *TINY)
    assert not (tmp_path / "paper" / "checkpoint.pt").exists()
