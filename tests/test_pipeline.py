"""The DVC pipeline: its stage matrix, and one cell run end to end through the stage entry points."""
from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from bench.cli import app
from bench.data.synth import synthesize
from bench.io import OUTPUT_MARKER
from bench.models import list_models

REPO = Path(__file__).resolve().parents[1]


def test_default_params_run_every_registered_model_and_every_cell_has_its_stages():
    from dvc.repo import Repo

    from pipelines.common import GROUPS, cells

    params = yaml.safe_load((REPO / "params.yaml").read_text())
    assert sorted({m for m, _ in cells(params, frame=False)}) == sorted(list_models())  # each model somewhere
    with Repo(str(REPO)) as repo:
        stages = {stage.name: stage for stage in repo.index.stages if "reid" not in Path(stage.path).parts}  # root + pipelines/*/
    groups = [("", params["models"], params["datasets"])] + [(f"-{g}", params[g]["models"], params[g]["datasets"]) for g in GROUPS]
    for suffix, models, datasets in groups:
        for model in models:
            for dataset in datasets:
                for kind in ("train", "evaluate"):  # evaluate: the test images, generated and scored (one process)
                    assert f"{kind}{suffix}@{model}-{dataset}" in stages
                metrics = [str(o.def_path) for o in stages[f"evaluate{suffix}@{model}-{dataset}"].outs if o.metric]
                plots = [str(o.def_path) for o in stages[f"train{suffix}@{model}-{dataset}"].outs if o.plot]
                assert metrics == [f"results/metrics/{model}/{dataset}.scores.json"]
                assert plots == [f"logs/{model}/{dataset}.csv"]
    assert len(cells(params)) == len({c for c in cells(params)})  # no cell in two matrices (one output path each)
    assert {f"real-data@{d}" for d in params["datasets"]} <= stages.keys()
    assert "profile" in stages  # one stage: every profile model in one process, interleaved
    # each model runs where a seed table reports it: PoNA's ablations on Market only, part flow's on DeepFashion only
    assert "pona-b1" in params["market"]["models"] and "partflow-wo-pnb" in params["fashion"]["models"]
    # the `frame` matrix: pose-gan's 256x256 DeepFashion, only for the models of the tables measured there
    frame = params["frame"]
    assert frame["datasets"] == ["synth-fashion-posegan"] and set(frame["models"]) < set(list_models())
    for model in frame["models"]:
        assert stages[f"evaluate-frame@{model}-synth-fashion-posegan"].cmd.endswith(f" {frame['protocol']} none")
    assert {"prepare-frame@synth-fashion-posegan", "settings-frame@synth-fashion-posegan"} <= stages.keys()
    assert {g["protocol"] for g in params["settings"]["synth-fashion-posegan"]} == {"posegan", "posegan-modern"}


def test_the_lock_file_records_only_stages_that_exist():
    """DVC never drops the dvc.lock entry of a stage removed from dvc.yaml (a cell taken out of
    params.yaml), and it re-parses and re-writes the whole lock after every stage in round-trip
    mode (ruamel's pure-Python loader): stale entries made each stage of the default run ~1.3 s
    slower when they were half the file."""
    from dvc.repo import Repo

    with Repo(str(REPO)) as repo:
        stages = [(Path(stage.path), stage.name) for stage in repo.index.stages]
    for dvcfile in {path for path, _ in stages}:  # dvc.yaml, pipelines/*/dvc.yaml, reid/dvc.yaml: each its own lock
        lock = dvcfile.with_suffix(".lock")
        locked = set(yaml.safe_load(lock.read_text())["stages"]) if lock.exists() else set()
        assert locked - {name for path, name in stages if path == dvcfile} == set(), lock


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A working copy of the pipeline's inputs: params with two models, one tiny dataset."""
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params.update(models=["source-copy", "pg2"], datasets=["synth-market"], test_pairs={"synth-market": 6},
                  multi_source={"synth-market": {"k": [1, 3], "max_test": 4, "min_instances": 4, "val_fraction": 0.34}},
                  settings={"synth-market": [{"protocol": "paper", "models": {"source-copy": ["n=1"],
                                                                              "pg2": ["stage-1"]}}]},
                  protocols={"synth-market": [{"protocol": "gfla", "metrics": ["ssim", "psnr"], "models": ["pg2"]}]})
    for group in ("market", "fashion", "frame"):
        params.pop(group)  # no other matrix here
    params["profiles"]["cpu"]["defaults"].update(iterations=2, niter=1, niter_decay=1, log_every=1, threads=1)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    (tmp_path / "results").mkdir()
    shutil.copy(REPO / "results" / "published.csv", tmp_path / "results" / "published.csv")
    synthesize("synth-market", tmp_path / "data" / "synth-market", seed=0, identities_train=3, identities_test=2,
               multi_source_identities=3, multi_source_images=8)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_one_cell_runs_from_prepare_to_report(project):
    from pipelines import configure, evaluate, prepare, protocols, report, settings, train

    prepare.main("synth-market")
    assert len(list(csv.reader(open("data/prepared/synth-market/pairs-test.csv")))) == 1 + 6  # header + test_pairs
    configure.main()
    for model in ("source-copy", "pg2"):
        train.main(model, "synth-market")
        evaluate.main(model, "synth-market", "paper", "none")
    settings.main("synth-market", estimator="none")
    protocols.main("synth-market")
    report.main()

    assert sorted(p.name for p in Path("runs/pg2/synth-market").iterdir()) == [
        OUTPUT_MARKER, "config.yaml", "meta.json", "model.pt", "train_log.csv"]  # the optimiser state stays in checkpoints/
    assert Path("checkpoints/pg2/synth-market/checkpoint.pt").exists()
    log = Path("runs/pg2/synth-market/train_log.csv").read_text()
    train.main("pg2", "synth-market")  # a re-run resumes the finished run: nothing is trained again
    assert Path("runs/pg2/synth-market/train_log.csv").read_text() == log
    losses = list(csv.DictReader(open("logs/pg2/synth-market.csv")))
    assert [row["step"] for row in losses] == ["1", "2"] and all(float(row["G"]) > 0 and row["D"] for row in losses)
    assert Path("logs/source-copy/synth-market.csv").read_text() == "step,G,D\n"
    scores = json.loads(Path("results/metrics/pg2/synth-market.scores.json").read_text())
    record = json.loads(Path("results/metrics/pg2/synth-market.json").read_text())
    assert scores == {name: m["value"] for name, m in record["metrics"].items() if m.get("value") is not None}
    assert {"ssim", "mask-ssim", "psnr"} <= scores.keys() and "fid" not in scores  # no Inception weights here
    compared = CliRunner().invoke(app, ["compare", "pg2", "source-copy", "--dataset", "synth-market", "--format", "json"])
    assert compared.exit_code == 0, compared.output  # the records are found beside the scores files
    board = Path("results/leaderboard.md").read_text()
    assert "| pg2 |" in board and "| source-copy |" in board
    # the settings stage: its records carry the setting, and the leaderboard has a row per (model, setting)
    stage_one = json.loads(Path("results/metrics/settings/synth-market/pg2/stage-1.json").read_text())
    assert stage_one["setting"]["label"] == "stage-1" and stage_one["model"] == "pg2"
    assert json.loads(Path("results/metrics/settings/synth-market/source-copy/n1.json").read_text())["sources"] == 1
    assert "| pg2, stage-1 |" in board and "| source-copy, n=1 |" in board
    compared = CliRunner().invoke(app, ["compare", "pg2", "pg2@stage-1", "--dataset", "synth-market", "--format", "json"])
    assert compared.exit_code == 0, compared.output  # (model, setting) keys: the default and the Stage-I record
    assert [m["label"] for m in json.loads(compared.output)["models"]] == ["pg2", "pg2, stage-1"]
    assert Path("results/tables/li2020pona-table-i.md").exists()
    # the protocols stage: the same images under `gfla`, a leaderboard section of its own
    again = json.loads(Path("results/metrics/protocols/synth-market/gfla/pg2.json").read_text())
    assert again["protocol"]["name"] == "gfla" and set(again["metrics"]) == {"ssim", "psnr"}
    assert again["metrics"]["psnr"]["value"] == record["metrics"]["psnr"]["value"]  # Market: one geometry
    assert "## Protocol `gfla`" in board
    assert Path("results/figures/samples-synth-market.pdf").read_bytes().startswith(b"%PDF")
    assert Path("results/figures/loss/synth-market/pg2.png").exists()
    assert not Path("results/figures/loss/synth-market/source-copy.png").exists()


def test_settings_are_checked_against_the_models_trained_on_their_dataset():
    """A setting of a `frame` dataset names a `frame.models` model; one not trained there is refused in one line."""
    from bench.errors import DataError
    from pipelines.common import cells, dataset_models
    from pipelines.settings import planned

    params = {"models": ["pg2", "vunet"], "datasets": ["synth-market"], "market": {"models": [], "datasets": []},
              "frame": {"models": ["vunet"], "datasets": ["synth-fashion-posegan"]},
              "settings": {"synth-fashion-posegan": [{"protocol": "posegan-modern", "models": {"vunet": ["n=1"]}}]}}
    assert cells(params) == [("pg2", "synth-market"), ("vunet", "synth-market"), ("vunet", "synth-fashion-posegan")]
    assert dataset_models(params, "synth-fashion-posegan") == ["vunet"]
    assert [(m, s.label(), p) for m, s, p in planned(params, "synth-fashion-posegan")] == [("vunet", "n=1", "posegan-modern")]
    params["settings"]["synth-fashion-posegan"][0]["models"] = {"pg2": ["stage-1"]}
    with pytest.raises(DataError, match=r"settings.synth-fashion-posegan\[0\].pg2: not trained on synth-fashion-posegan"):
        planned(params, "synth-fashion-posegan")


def test_a_dataset_without_settings_still_gets_the_stage_outputs(project):
    """settings@<dataset> runs for every dataset; with nothing listed it leaves its (empty) outputs, which DVC requires."""
    from pipelines import settings

    params = yaml.safe_load(Path("params.yaml").read_text())
    params["settings"] = {}
    Path("params.yaml").write_text(yaml.safe_dump(params))
    settings.main("synth-market", estimator="none")
    assert Path("generated/settings/synth-market").is_dir() and Path("results/metrics/settings/synth-market").is_dir()
    assert not any(Path("results/metrics/settings/synth-market").iterdir())
