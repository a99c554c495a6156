"""Training with K sources, then generation and evaluation with n = 1 and n = 3.

A tiny Market-layout dataset (3 train identities, 2 test identities, 4 images each) is
prepared with ``bench.data.splits.prepare`` and K = 3 tuples; MS-DefGAN (width 1/16,
pixel L1 instead of the VGG19 NN loss) trains on them through ``bench.cli.train.train``.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from baselines.msdefgan import MSDefGANModel
from bench.cards import MetricSpec
from bench.train.run import generate, train
from bench.data.annotations import write_annotations
from bench.data.keypoints import INDEX, MISSING
from bench.data.multisource import pair_keys
from bench.data.splits import MultiSourceConfig, prepare, read_tuples
from bench.errors import BenchError
from bench.evaluate import EvalConfig, evaluate
from bench.metrics.base import MetricResult
from bench.registry import METRICS, Entry

REPO = Path(__file__).resolve().parents[2]
H, W = 128, 64
POSE = dict(  # (y, x) of a standing person in a 128x64 frame
    nose=(15, 32), r_eye=(12, 30), l_eye=(12, 34), neck=(26, 32),
    r_shoulder=(30, 22), l_shoulder=(30, 42), r_hip=(70, 24), l_hip=(70, 40),
    r_knee=(95, 24), l_knee=(95, 40), r_ankle=(120, 24), l_ankle=(120, 40),
    r_elbow=(50, 16), l_elbow=(50, 48), r_wrist=(65, 14), l_wrist=(65, 50),
)
TINY = {"model.width": 0.0625, "batch_size": 2, "threads": 1}  # the cpu profile already uses pixel L1


def person(rng: np.random.Generator) -> np.ndarray:
    kp = np.full((18, 2), MISSING, np.int64)
    for name, yx in POSE.items():
        kp[INDEX[name]] = np.asarray(yx) + rng.integers(-3, 4, 2)
    return kp


@pytest.fixture(scope="module")
def market(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("msource")
    rng = np.random.default_rng(0)
    for split, people in (("train", (1, 2, 3)), ("test", (4, 5))):
        (root / split).mkdir()
        names = [f"{p:04d}_c{j + 1}s1_{10 * p + j:06d}_01.jpg" for p in people for j in range(4)]
        for name in names:
            Image.fromarray(rng.integers(0, 256, (H, W, 3), dtype=np.uint8)).save(root / split / name, quality=95)
        write_annotations(root / f"market-annotation-{split}.csv", {n: person(rng) for n in names})
    prepared = root / "prepared"
    config = MultiSourceConfig(k=(3,), min_instances=4, val_fraction=0.34, max_test=10)
    prepare(root, out=prepared, multi_source=config)  # train 2 ids x 12 tuples, validation 1 id, test 10 of 24
    return root, prepared


@pytest.fixture(scope="module")
def run(market, tmp_path_factory) -> tuple[Path, list[tuple]]:
    """A 2-step K = 3 MS-DefGAN run; the source shapes every forward call saw."""
    root, prepared = market
    out = tmp_path_factory.mktemp("run") / "msdefgan"
    seen: list[tuple] = []
    forward = MSDefGANModel.forward

    def spy(self, batch, *args, **kwargs):
        seen.append(tuple(tuple(batch[k].shape) for k in ("source", "source_pose", "source_keypoints", "target")))
        return forward(self, batch, *args, **kwargs)

    mp = pytest.MonkeyPatch()
    mp.setattr(MSDefGANModel, "forward", spy)
    try:
        train("msdefgan", root, out, profile="cpu", params=REPO / "params.yaml", pairs_dir=prepared, iterations=2,
              overrides=dict(TINY), sources=3, progress=False)
    finally:
        mp.undo()
    return out, seen


@pytest.fixture
def l1_metric(monkeypatch):
    def l1(inputs, protocol) -> MetricResult:
        diff = np.abs(inputs.generated.astype(np.float64) - inputs.targets.astype(np.float64))
        return MetricResult.from_scores(diff.mean(axis=(1, 2, 3)) / 255)

    METRICS.names()
    monkeypatch.setitem(METRICS._entries, "test-l1", Entry("test-l1", l1, MetricSpec(label="L1", higher_is_better=False, decimals=3, paper="test", version="1", per_pair=True)))


def test_three_source_batches_reach_the_model(market, run):
    root, prepared = market
    out, seen = run
    assert seen and set(seen) == {((2, 3, 3, H, W), (2, 3, 18, H, W), (2, 3, 18, 2), (2, 3, H, W))}
    meta = json.loads((out / "meta.json").read_text())
    assert meta["status"] == "finished" and meta["sources"] == 3 and meta["config"]["sources"] == 3
    assert meta["pairs"] == str(prepared / "msource-train-k3.csv")
    assert meta["train_pairs"] == len(read_tuples(prepared / "msource-train-k3.csv")) == 2 * 12
    rows = list(csv.DictReader((out / "train_log.csv").open()))
    assert rows[-1]["step"] == "2" and {"G/gan", "G/l1", "D/real", "D/fake"} <= set(rows[-1])


def test_resume_keeps_the_source_count(market, run, tmp_path):
    root, prepared = market
    out, _ = run
    copy = tmp_path / "run"
    copy.mkdir()
    for path in out.iterdir():
        (copy / path.name).write_bytes(path.read_bytes())
    kw = dict(profile="cpu", params=REPO / "params.yaml", pairs_dir=prepared, overrides=dict(TINY), progress=False)
    with pytest.raises(BenchError, match=r"sources: 3 -> 1"):
        train("msdefgan", root, copy, iterations=3, resume=True, sources=1, **kw)
    train("msdefgan", root, copy, iterations=3, resume=True, sources=3, **kw)
    meta = json.loads((copy / "meta.json").read_text())
    assert meta["step"] == 3 and meta["resumed_at"] == [2]


def test_generate_and_evaluate_with_one_and_three_sources(market, run, tmp_path, l1_metric):
    root, prepared = market
    out, _ = run
    tuples = read_tuples(prepared / "msource-test-k3.csv")
    keys = pair_keys(tuples)
    assert len({(src[0], to) for to, src in tuples}) < len(tuples)  # (from_1, to) repeats: the naming matters
    images, records = {}, {}
    for n in (1, 3):
        gen = generate("msdefgan", root, tmp_path / f"gen{n}", checkpoint=out, pairs_dir=prepared, sources=n,
                       batch_size=4, device="cpu", progress=False)
        info = json.loads((gen / "generation.json").read_text())
        assert info["sources"] == n and info["tuples"] == str(prepared / "msource-test-k3.csv")
        assert info["count"] == len(tuples) == 10 and info["step"] == 2
        assert sorted(p.name for p in gen.glob("*.png")) == sorted(f"{a}___{b}.png" for a, b in keys)
        images[n] = np.stack([np.asarray(Image.open(gen / f"{a}___{b}.png")) for a, b in keys])

        result = tmp_path / f"eval{n}" / "result.json"
        evaluate(EvalConfig(generated_dir=gen, dataset=root, out=result, pairs_dir=prepared, metrics=("test-l1",),
                            sources=n, progress=False))
        records[n] = json.loads(result.read_text())
        targets = np.stack([np.asarray(Image.open(root / "test" / to).convert("RGB")) for _, to in keys])
        expected = np.abs(images[n].astype(float) - targets).mean(axis=(1, 2, 3)) / 255
        scored = list(csv.DictReader((result.parent / "result.per-pair.csv").open()))
        assert [(r["from"], r["to"]) for r in scored] == keys
        assert [float(r["test-l1"]) for r in scored] == pytest.approx(expected, rel=1e-12)
        assert records[n]["sources"] == n and records[n]["pairs"]["evaluated"] == 10
    assert images[1].shape == (10, H, W, 3)
    assert not np.array_equal(images[1], images[3])  # the extra sources change the fused output
    assert records[1]["metrics"]["test-l1"]["value"] != records[3]["metrics"]["test-l1"]["value"]


def test_single_source_models_refuse_several_sources(market, tmp_path):
    root, prepared = market
    with pytest.raises(BenchError, match=r"patn takes a single source image.*multi-source models: .*msdefgan"):
        train("patn", root, tmp_path / "patn", profile="cpu", params=REPO / "params.yaml", pairs_dir=prepared,
              iterations=1, overrides={"model.width": 0.0625}, sources=3, progress=False)
    assert not (tmp_path / "patn").exists()
    with pytest.raises(BenchError, match="sources must be >= 0"):
        train("msdefgan", root, tmp_path / "neg", profile="cpu", params=REPO / "params.yaml", pairs_dir=prepared,
              iterations=1, sources=-1, progress=False)


def test_validation_keeps_the_best_checkpoint_by_the_named_metric(market, tmp_path):
    """--val-every 1: every step is scored on the validation tuples; best.pt holds the weights of the
    best (first best on ties) score in the meta's history, and generation from the run uses it."""
    import torch

    from bench.data.layout import DatasetLayout
    from bench.data.multisource import tuple_dataset
    from bench.train.generate import checkpoint_file, load_trained
    from bench.train.validation import BEST, Validation

    root, prepared = market
    out = tmp_path / "run"
    train("msdefgan", root, out, profile="cpu", params=REPO / "params.yaml", pairs_dir=prepared, iterations=3,
          overrides={**TINY, "val_every": 1, "val_items": 4, "val_metric": "ssim"}, sources=3, progress=False)
    meta = json.loads((out / "meta.json").read_text())["validation"]
    assert meta["metric"] == "ssim" and meta["every"] == 1 and meta["items"] == 4 and meta["held_out"]
    assert meta["split"].endswith("msource-validation-k3.csv")
    values = [h["value"] for h in meta["history"]]
    assert [h["step"] for h in meta["history"]] == [1, 2, 3]
    best = values.index(max(values))  # list.index: the first of equal maxima, as the strict '>' keeps
    assert meta["best"] == {"step": best + 1, "value": values[best]}
    assert checkpoint_file(out) == out / BEST
    model, info = load_trained(out, "market")
    assert info["step"] == best + 1
    # the saved weights are the ones that scored: re-scoring best.pt gives the recorded value. Not to the
    # last bit: in the full suite it came back 1.5e-6 off (0.0166882 vs 0.0166897; the cause, probably a
    # uint8 rounding flip of a few pixels, is not yet found), while the steps' values differ by ~1e-3.
    layout = DatasetLayout.open(root, prepared)
    val_set, _ = tuple_dataset(layout, "validation", 3, "msdefgan")
    again = Validation(val_set, layout, "ssim", items=4).score(model, torch.device("cpu"), 2)
    assert again == pytest.approx(values[best], abs=1e-5)
    assert all(abs(v - values[best]) > 1e-4 for i, v in enumerate(values) if i != best)  # 1e-5 tells the steps apart
    generated = generate("msdefgan", root, tmp_path / "gen", checkpoint=out, pairs_dir=prepared, progress=False,
                         sources=3)
    assert json.loads((generated / "generation.json").read_text())["checkpoint"].endswith(BEST)


def test_validation_needs_a_validation_split_and_a_per_pair_metric(market, tmp_path):
    root, prepared = market
    with pytest.raises(BenchError, match="set-level"):
        train("msdefgan", root, tmp_path / "a", profile="cpu", params=REPO / "params.yaml", pairs_dir=prepared,
              iterations=1, overrides={**TINY, "val_every": 1, "val_metric": "fid"}, sources=3, progress=False)
    bare = tmp_path / "pairs-only"
    prepare(root, out=bare)  # no --multi-source: no validation tuples
    with pytest.raises(BenchError, match="no multi-source validation tuples"):
        train("msdefgan", root, tmp_path / "b", profile="cpu", params=REPO / "params.yaml", pairs_dir=bare,
              iterations=1, overrides={**TINY, "val_every": 1}, sources=0, progress=False)
