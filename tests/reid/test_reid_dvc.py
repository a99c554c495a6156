"""reid/dvc.yaml: its stages beside the root pipeline, and a tiny grid reproduced by DVC end to end."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from bench.data.synth import synthesize

REPO = Path(__file__).resolve().parents[2]


def test_stages_of_every_row_and_portion_load_beside_the_root_pipeline():
    from dvc.repo import Repo

    params = yaml.safe_load((REPO / "reid" / "params.yaml").read_text())
    with Repo(str(REPO)) as repo:  # overlapping outputs of the two files would raise here
        stages = {stage.addressing for stage in repo.index.stages}
    assert "report" in stages  # the root pipeline is unchanged
    assert params["rows"] == ["none", *params["generators"]]
    for p in params["portions"]:
        assert f"reid/dvc.yaml:split@{p}" in stages and f"reid/dvc.yaml:train-none@{p}" in stages
        for row in params["rows"]:
            assert f"reid/dvc.yaml:evaluate@{row}-{p}" in stages
        for generator in params["generators"]:
            assert {f"reid/dvc.yaml:generate@{generator}-{p}", f"reid/dvc.yaml:train@{generator}-{p}"} <= stages


def test_tiny_grid_reproduces(tmp_path):
    root = tmp_path / "repo"
    (root / "reid").mkdir(parents=True)
    shutil.copy(REPO / "reid" / "dvc.yaml", root / "reid" / "dvc.yaml")
    params = yaml.safe_load((REPO / "reid" / "params.yaml").read_text())
    params.update(portions=[0.5], generators=["source-copy"], rows=["none", "source-copy"])
    (root / "reid" / "params.yaml").write_text(yaml.safe_dump(params))
    shutil.copytree(REPO / "bench" / "reid", root / "bench" / "reid", ignore=shutil.ignore_patterns("__pycache__"))
    (root / "results").mkdir()
    shutil.copy(REPO / "results" / "published.csv", root / "results" / "published.csv")
    synthesize("synth-market", root / "data" / "synth-market", seed=2, identities_train=4, identities_test=3,
               images_per_identity=3, progress=False)
    (root / "runs" / "source-copy" / "synth-market").mkdir(parents=True)  # the reference row has no weights
    (root / "runs" / "source-copy" / "synth-market" / "meta.json").write_text("{}")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "OMP_NUM_THREADS": "1", "DVC_NO_ANALYTICS": "1"}
    dvc = [str(Path(sys.executable).parent / "dvc")]
    for cmd in (["git", "init", "-q"], [*dvc, "init", "-q"], [*dvc, "repro", "reid/dvc.yaml"]):
        done = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr
    record = json.loads((root / "results" / "reid" / "source-copy" / "synth-market" / "p0.5.json").read_text())
    assert record["p"] == 0.5 and record["train"]["generated_count"] > 0
    table = (root / "results" / "tables" / "li2020pona-table-vi-reid.md").read_text()
    assert "None (reduced set only)" in table and "source-copy" in table
    again = subprocess.run([*dvc, "status", "reid/dvc.yaml"], cwd=root, env=env, capture_output=True, text=True)
    assert "up to date" in again.stdout.lower(), again.stdout
