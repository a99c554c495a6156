"""bench/models/profile.py: several models timed in one process, in interleaved rounds."""
from __future__ import annotations

import json
import statistics

import pytest
import yaml

from bench.errors import BenchError
from bench.models import count_parameters, create_model
from bench.models import profile as prof
from bench.results import read_record


def test_rounds_rotate_the_model_order_and_report_min_and_median(monkeypatch):
    calls, clock, built, create = [], iter([0.3, 0.1, 0.2, 0.6, 0.5, 0.4]), {}, prof.create_model

    def create_model_named(name, dataset, **config):
        model = create(name, dataset, **config)
        built[id(model)] = name
        return model

    monkeypatch.setattr(prof, "create_model", create_model_named)
    monkeypatch.setattr(prof, "_timed_forward", lambda model, inputs, dev: (calls.append(built[id(model)]), next(clock))[1])
    results = prof.profile_models(["patn", "pona"], "market", rounds=3, warmup=0, progress=False, width=0.0625)
    # round 0: patn, pona; round 1: pona, patn; round 2: patn, pona (each model first as often as possible)
    assert calls == ["patn", "pona", "pona", "patn", "patn", "pona"]
    patn, pona = results
    assert patn["seconds"] == [0.3, 0.6, 0.5] and pona["seconds"] == [0.1, 0.2, 0.4]
    assert (patn["seconds_min"], patn["seconds_median"], patn["fps"]) == (0.3, 0.5, 1 / 0.5)
    assert pona["interleaved_with"] == ["patn"] and pona["rounds"] == 3
    assert pona["params"]["generator"] == count_parameters(create_model("pona", "market", width=0.0625).generator)


def test_speed_ratios_by_hand():
    def result(name, seconds, params):
        return {"model": name, "seconds": seconds, "seconds_median": statistics.median(seconds),
                "params": {"generator": params}}

    rows = prof.speed_ratios([result("patn", [2.0, 4.0, 6.0], 100), result("pona", [1.0, 2.0, 2.0], 80)], "patn")
    assert rows[0]["fps_ratio"] == 1.0
    # medians 4 / 2; per round 2/1, 4/2, 6/2
    assert rows[1] == {"model": "pona", "reference": "patn", "fps_ratio": 2.0, "round_ratio_min": 2.0,
                       "round_ratio_median": 2.0, "params_ratio": 0.8}
    with pytest.raises(BenchError, match="not among the profiled models"):
        prof.speed_ratios(rows, "pg2")


def test_a_model_named_twice_is_refused():
    with pytest.raises(BenchError, match="named twice"):
        prof.profile_models(["patn", "patn"], "market", rounds=1, progress=False, width=0.0625)


def test_cli_times_models_side_by_side(capsys):
    from cli_helpers import run_cli

    code, stdout, _ = run_cli(["profile", "patn", "pona-b2", "--dataset", "market", "--width", "0.0625", "--rounds", "2",
                     "--warmup", "0", "--ratio-to", "patn", "--json"], capsys)
    assert code == 0
    out = json.loads(stdout)
    assert [m["model"] for m in out["models"]] == ["patn", "pona-b2"] and all(len(m["seconds"]) == 2 for m in out["models"])
    assert [r["model"] for r in out["ratios"]] == ["patn", "pona-b2"] and out["ratios"][0]["fps_ratio"] == 1.0
    assert out["ratios"][1]["params_ratio"] == pytest.approx(out["models"][1]["params"]["generator"]
                                                             / out["models"][0]["params"]["generator"])


def test_pipeline_stage_writes_one_readable_record_per_model(tmp_path, monkeypatch):
    from pipelines import profile as stage

    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"profile_models": {
        "models": ["source-copy", "pona-b1"], "dataset": "market", "device": "cpu", "device_tag": "here",
        "rounds": 2, "warmup": 0}, "profiles": {}}))
    monkeypatch.chdir(tmp_path)
    stage.main()
    assert sorted(p.name for p in (tmp_path / "results/profile/here").iterdir()) == ["pona-b1.json", "source-copy.json"]
    record = read_record(tmp_path / "results/profile/here/pona-b1.json")
    profile = record.get("profile")
    assert profile["interleaved_with"] == ["source-copy"] and len(profile["seconds"]) == 2
    assert record.metrics["fps"].value == pytest.approx(1 / profile["seconds_median"])
    assert record.metrics["time_ms"].value == pytest.approx(1000 * profile["seconds_median"])
    assert record.metrics["fps"].higher_is_better and not record.metrics["time_ms"].higher_is_better
