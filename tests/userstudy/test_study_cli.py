"""`bench study ...`: one clear line for each bad input, and the pilot -> report path."""
from __future__ import annotations

import sys

import pytest
import yaml

from bench.cli import main


def run(monkeypatch, capsys, *args) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["bench", *map(str, args)])
    try:
        main()
        code = 0
    except SystemExit as exit:
        code = exit.code
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def config_file(study_data, tmp_path):
    root, folders = study_data

    def write(methods=None, **counts) -> str:
        data = {"seed": 0, "real": 4, "generated": 4, "warmup": 2, "groups": 3, **counts,
                "datasets": [{"name": "synth-market", "root": str(root),
                              "methods": {m: str(p) for m, p in (methods or folders).items()}}]}
        path = tmp_path / f"study-{len(list(tmp_path.glob('study-*.yaml')))}.yaml"
        path.write_text(yaml.safe_dump(data))
        return str(path)

    return write


def test_bad_inputs_are_one_line_errors(monkeypatch, capsys, config_file, study_data, tmp_path):
    _, folders = study_data
    code, _, err = run(monkeypatch, capsys, "study", "report", "--config", config_file({"pix2pix3000": folders["patn"]}),
                       "--db", tmp_path / "a.sqlite")
    assert code == 1 and err.count("\n") == 1 and "unknown method 'pix2pix3000'" in err
    code, _, err = run(monkeypatch, capsys, "study", "pilot", "--config", config_file(generated=100), "--db", tmp_path / "a.sqlite")
    assert code == 1 and err.count("\n") == 1 and "too few generated images for the protocol" in err
    assert not (tmp_path / "a.sqlite").exists()  # nothing written for a bad config
    good = config_file()
    code, out, _ = run(monkeypatch, capsys, "study", "pilot", "--config", good, "--db", tmp_path / "b.sqlite",
                       "--participants", "2")
    assert code == 0 and "2 scripted participants finished" in out
    code, _, err = run(monkeypatch, capsys, "study", "report", "--config", config_file(groups=2), "--db", tmp_path / "b.sqlite")
    assert code == 1 and err.count("\n") == 1 and "database from another study config" in err
    code, out, _ = run(monkeypatch, capsys, "study", "report", "--config", good, "--db", tmp_path / "b.sqlite",
                       "--out", tmp_path / "t2.md", "--record", tmp_path / "t2.json")
    assert code == 0 and f"wrote {tmp_path / 't2.md'}" in out
    assert "SCRIPTED PILOT" in (tmp_path / "t2.md").read_text()
