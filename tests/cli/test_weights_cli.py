"""`bench weights status|install` and the lookup behind them (bench.weights)."""
from __future__ import annotations

import dataclasses
import json

import pytest
import torch
from typer.testing import CliRunner

from bench import weights
from bench.cli import app
from bench.errors import BenchError

runner = CliRunner()
INCEPTION = "weights-inception-2015-12-05-6726825d.pth"
ALEXNET = "alexnet-owt-7be5be79.pth"


@pytest.fixture
def empty_hub(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "_hub_dir", torch.hub._hub_dir)  # restored after the test
    torch.hub.set_dir(str(tmp_path / "hub"))
    monkeypatch.delenv("BENCH_WEIGHTS_DIR", raising=False)
    return tmp_path / "hub" / "checkpoints"


def test_status_json_lists_every_weight(tmp_path, empty_hub):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / ALEXNET).write_bytes(b"x")
    result = runner.invoke(app, ["weights", "status", "--weights-dir", str(mine), "--json"])
    assert result.exit_code == 0, result.output
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert set(rows) == set(weights.WEIGHTS)
    assert rows["alexnet"]["present"] and rows["alexnet"]["path"] == str(mine / ALEXNET)
    missing = rows["inception-fidelity"]
    assert not missing["present"] and missing["path"] is None
    assert missing["searched"] == [str(mine), str(empty_hub)]
    assert missing["url"].endswith(INCEPTION)


def test_status_table_says_present_missing_and_where(tmp_path, empty_hub, monkeypatch, trust_weights):
    env_dir = tmp_path / "env"
    env_dir.mkdir()
    (env_dir / INCEPTION).write_bytes(b"x")
    trust_weights("inception-fidelity", env_dir / INCEPTION)
    monkeypatch.setenv("BENCH_WEIGHTS_DIR", str(env_dir))
    monkeypatch.setenv("COLUMNS", "500")  # one line per weight
    result = runner.invoke(app, ["weights", "status"])
    assert result.exit_code == 0, result.output
    lines = [[c.strip() for c in line.strip()[1:-1].split("│")] for line in result.stdout.splitlines() if line.startswith("│")]
    rows = {cells[0]: (cells, lines[i + 1]) for i, cells in enumerate(lines) if cells[0]}
    present, _ = rows["inception-fidelity"]
    assert present[2:] == ["present", str(env_dir / INCEPTION), weights.WEIGHTS["inception-fidelity"].url]
    missing, continued = rows["vgg19"]  # every folder searched, one per line
    assert missing[2:] == ["missing", str(env_dir), weights.WEIGHTS["vgg19"].url]
    assert continued[3] == str(empty_hub)


def test_install_copies_into_the_hub_cache_under_its_name(tmp_path, empty_hub, trust_weights):
    src = tmp_path / "dl" / INCEPTION
    src.parent.mkdir()
    src.write_bytes(b"inception bytes")
    trust_weights("inception-fidelity", src)
    result = runner.invoke(app, ["weights", "install", str(src)])
    assert result.exit_code == 0, result.output
    assert (empty_hub / INCEPTION).read_bytes() == b"inception bytes"
    assert weights.find("inception-fidelity") == empty_hub / INCEPTION
    assert [p.name for p in empty_hub.iterdir()] == [INCEPTION]  # no temporary left behind


def test_install_refuses_unknown_names(tmp_path, empty_hub):
    src = tmp_path / "inception.pth"
    src.write_bytes(b"x")
    result = runner.invoke(app, ["weights", "install", str(src)])
    assert result.exit_code != 0 and isinstance(result.exception, BenchError)
    assert INCEPTION in str(result.exception) and not empty_hub.exists()


def test_install_checks_size_and_full_sha256(tmp_path, empty_hub, monkeypatch):
    src = tmp_path / ALEXNET
    src.write_bytes(b"not alexnet")
    with pytest.raises(BenchError, match="11 bytes, not the published 244,408,911"):
        weights.install(src)
    # the right size is not enough: same length, other bytes
    spec = weights.WEIGHTS["alexnet"]
    monkeypatch.setitem(weights.WEIGHTS, "alexnet", dataclasses.replace(spec, size=11))
    with pytest.raises(BenchError, match=r"sha256 [0-9a-f]{16}\.\.\., not the published 7be5be791159472b"):
        weights.install(src)
    assert not (empty_hub / ALEXNET).exists()


def test_published_digests_start_with_the_prefix_in_their_file_names():
    """The libraries name their files after the sha256 prefix (torchvision, torch-fidelity): an independent
    check of each full digest in the table. A file taken out of an archive (``member``) is named after the
    archive, whose prefix is the sha256 of the checkpoint it was exported from: only its length is checked here."""
    for spec in weights.WEIGHTS.values():
        if spec.member:
            assert len(spec.sha256) == 64 and int(spec.sha256, 16) >= 0, spec.name
            continue
        prefix = spec.filename.rsplit("-", 1)[1].split(".")[0]
        assert len(spec.sha256) == 64 and spec.sha256.startswith(prefix), spec.name


def test_require_names_the_file_and_every_folder(tmp_path, empty_hub):
    with pytest.raises(weights.WeightsMissing) as err:
        weights.require("vgg19", tmp_path / "w")
    message = str(err.value)
    assert "vgg19-dcbb9e9d.pth" in message and str(tmp_path / "w") in message and str(empty_hub) in message
