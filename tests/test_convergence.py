"""The convergence study (bench.convergence): its budget, its verdicts and a tiny run end to end.

The tiny run goes through the real writers: ``bench data synth``, the study's own
``prepare``, ``bench train`` (step 0 and a 3-iteration run), ``bench generate`` and
``bench evaluate``; the verdicts are checked against per-pair differences built by hand.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from bench.convergence import COLUMNS, METRICS, Budget, Scores, model_rows, read_budgets, run_study, study_config
from bench.data.synth import synthesize
from bench.errors import BenchError, DataError
from bench.models import list_models
from bench.yamlfile import read_yaml

REPO = Path(__file__).resolve().parents[1]
ISSUE_COLUMNS = ("model,dataset,iterations,seconds,metric,trained,untrained,source_copy,diff_ci_low,diff_ci_high,"
                 "learns").split(",")


def test_the_committed_budget_covers_every_registered_model():
    params = read_yaml(REPO / "params.yaml")
    budgets = read_budgets(params, REPO / "params.yaml", list_models())
    assert sorted([*budgets, "source-copy"]) == sorted(list_models())  # 30 trained + the reference row = all 31
    assert all(b.iterations >= 100 for b in budgets.values())
    assert budgets["pg2"].overrides == {"model.g1_steps": 275}


def test_budget_errors_name_the_key():
    where = Path("params.yaml")
    with pytest.raises(DataError, match="convergence: 'patm' is not a registered model"):
        read_budgets({"convergence": {"iterations": {"default": 5, "patm": 3}}}, where, list_models())
    with pytest.raises(DataError, match="convergence.iterations: patn needs a positive iteration count, not 0"):
        read_budgets({"convergence": {"models": ["patn"], "iterations": {"patn": 0}}}, where, list_models())
    with pytest.raises(DataError, match="has no `convergence:` section"):
        read_budgets({}, where, list_models())


def test_schedule_is_constant_then_linear_decay_over_the_budget():
    assert Budget(300, {"model.g1_steps": 10}).train_overrides() == {
        "iterations": 300, "niter": 150, "niter_decay": 150, "val_every": 0, "ckpt_every": 75, "model.g1_steps": 10}


def _scores(per_pair: dict[str, np.ndarray]) -> Scores:
    n = len(next(iter(per_pair.values())))
    return Scores([(f"a{i}", f"b{i}") for i in range(n)], per_pair,
                  {m: float(np.nanmean(v)) for m, v in per_pair.items()})


def test_verdicts_follow_the_paired_intervals():
    """Hand-made differences: a constant +0.1 gives the interval [0.1, 0.1]; +-1 alternating straddles 0."""
    from bench.convergence import StudyConfig

    n = 40
    base = np.linspace(0.2, 0.6, n)
    copy = _scores({m: base + 0.5 for m in METRICS[:4]})
    untrained = _scores({m: base for m in METRICS[:4]})
    noise = np.where(np.arange(n) % 2, 1.0, -1.0)
    trained = _scores({"mask-ssim": base + 0.1, "psnr": base + noise, "mask-psnr": base - 0.1,
                       "ssim": np.where(np.arange(n) == 0, np.nan, base + 0.1)})  # one pair excluded
    cfg = StudyConfig(dataset=Path("synth-market"), work=Path("w"), out=Path("o"), budgets={}, n_boot=500)
    rows = {r["metric"]: r for r in model_rows(cfg, "m", 10, 1.0, trained, untrained, copy)}
    assert rows["mask-ssim"]["diff_ci_low"] == pytest.approx(0.1) and rows["mask-ssim"]["learns"] is True
    assert rows["psnr"]["diff_ci_low"] < 0 < rows["psnr"]["diff_ci_high"] and rows["psnr"]["learns"] is False
    assert rows["mask-psnr"]["diff_ci_high"] == pytest.approx(-0.1) and rows["mask-psnr"]["learns"] is False
    assert rows["ssim"]["diff_ci_low"] == pytest.approx(0.1) and rows["ssim"]["learns"] is True
    assert rows["mask-ssim"]["copy_ci_high"] == pytest.approx(-0.4) and rows["mask-ssim"]["beats_copy"] is False


@pytest.fixture(scope="module")
def tiny_study(tmp_path_factory):
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("convergence")
    data = root / "synth-market"
    synthesize("synth-market", data, seed=0, identities_train=3, identities_test=2, images_per_identity=4, progress=False)
    cfg = study_config(data, root / "work", root / "results", REPO / "params.yaml", models=["unet", "pg2"], iterations=3,
                       test_pairs=8, pose_steps=5, n_boot=200)
    rows = run_study(cfg)
    yield cfg, rows
    torch.set_num_threads(threads)


def test_tiny_study_writes_the_issue_columns_for_every_model_and_metric(tiny_study):
    cfg, rows = tiny_study
    table = list(csv.DictReader((cfg.out / "synth-market.csv").read_text().splitlines()))
    assert list(table[0])[:len(ISSUE_COLUMNS)] == ISSUE_COLUMNS and tuple(table[0]) == COLUMNS
    assert [(r["model"], r["metric"]) for r in table] == [(m, x) for m in ("source-copy", "unet", "pg2") for x in METRICS]
    for r in table:
        if r["model"] != "source-copy" and r["metric"] != "pckh":
            assert float(r["diff_ci_low"]) <= float(r["trained"]) - float(r["untrained"]) <= float(r["diff_ci_high"])
            assert r["learns"] == ("true" if float(r["diff_ci_low"]) > 0 else "false")
    # The untrained row is the step-0 run of the same seed: its record says so.
    meta = json.loads((cfg.work / "unet" / "untrained" / "meta.json").read_text())
    assert meta["step"] == 0 and meta["status"] == "finished"
    assert json.loads((cfg.work / "unet" / "run" / "meta.json").read_text())["step"] == 3
    assert "| unet | 3 |" in (cfg.out / "synth-market.md").read_text()
    assert (cfg.out / "synth-market-losses.png").stat().st_size > 1000
    assert (cfg.out / "synth-market-logs" / "pg2.csv").read_text().startswith("step,")


def test_an_interrupted_study_resumes_without_training_again(tiny_study, monkeypatch):
    import bench.train.run

    cfg, rows = tiny_study
    before = (cfg.out / "synth-market.csv").read_text()
    monkeypatch.setattr(bench.train.run, "train", lambda *a, **k: pytest.fail("a finished run was trained again"))
    assert run_study(cfg) == rows
    assert (cfg.out / "synth-market.csv").read_text() == before


def test_steptime_times_every_trainable_model_in_interleaved_rounds(tiny_study, monkeypatch):
    """The trainer's own step is what is timed: count its calls per model (reference: steps + warmup each)."""
    from bench.train.steptime import StepTimeConfig, measure
    from bench.train.trainer import Trainer

    cfg, _ = tiny_study
    calls = []
    real = Trainer.train_step
    monkeypatch.setattr(Trainer, "train_step", lambda self, batch: calls.append(self.spec) or real(self, batch))
    rows = measure(StepTimeConfig(models=("source-copy", "unet", "pg2"), dataset=cfg.dataset, pairs_dir=cfg.work / "pairs",
                                  params=REPO / "params.yaml", steps=2, warmup=1, overrides=(("batch_size", 2),)),
                   progress=False)
    assert [r["model"] for r in rows] == ["unet", "pg2"]  # the reference row is not trained
    assert len(calls) == 2 * (2 + 1)
    assert all(r["steps"] == 2 and 0 < r["min_s"] <= r["median_s"] and r["batch_size"] == 2 for r in rows)


def test_a_folder_the_study_did_not_write_is_refused_before_any_work(tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "synth-market.csv").write_text("my own table\n")
    cfg = study_config(tmp_path / "synth-market", tmp_path / "work", out, REPO / "params.yaml", models=["unet"],
                       iterations=1)
    with pytest.raises(BenchError, match="mine"):
        run_study(cfg)
    assert (out / "synth-market.csv").read_text() == "my own table\n" and not (tmp_path / "work").exists()
