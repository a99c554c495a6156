"""The ResNet-50 re-ID model and the `bench reid` commands end to end on a tiny synthetic Market."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bench.cli import app
from bench.data.synth import synthesize
from bench.reid.market import folder, list_images


def test_full_width_backbone_is_torchvisions_resnet50():
    from bench._torchvision_compat import import_torchvision
    from bench.reid.model import ReIDNet

    reference = import_torchvision().models.resnet50()
    ours = ReIDNet(751, width_divisor=1)
    state = {k: v for k, v in reference.state_dict().items() if not k.startswith("fc.")}
    ours.backbone.load_state_dict(state, strict=True)  # same names and shapes, key for key
    assert sum(p.numel() for p in ours.backbone.parameters()) == sum(p.numel() for p in reference.parameters()) - 2048 * 1000 - 1000
    narrow = ReIDNet(10, width_divisor=8)
    assert narrow.backbone.layer4[-1].conv3.out_channels == 2048 // 8 and len(narrow.backbone.layer3) == 6


@pytest.fixture(scope="module")
def market(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("reid") / "synth-market"
    synthesize("synth-market", root, seed=1, identities_train=4, identities_test=3, images_per_identity=3, progress=False)
    return root


def test_synthetic_query_folder_follows_the_market_protocol(market):
    query, gallery = list_images(folder(market, "query")), list_images(folder(market, "gallery"))
    assert query and {m.person for m in query} == {m.person for m in gallery} - {-1, 0}
    assert len({(m.person, m.camera) for m in query}) == len(query)  # one per identity and camera
    for q in query:  # every query has a good gallery image: same person, another camera
        assert any(g.person == q.person and g.camera != q.camera for g in gallery)
    assert not {m.name for m in query} & {m.name for m in gallery}


def test_cli_end_to_end(market, tmp_path, one_torch_thread):
    run = CliRunner()
    split, gen, runs, rec = tmp_path / "split", tmp_path / "gen", tmp_path / "runs", tmp_path / "records"

    def ok(*args):
        result = run.invoke(app, ["reid", *map(str, args)])
        assert result.exit_code == 0, result.output
        return result.output

    ok("split", "--dataset", market, "--p", 0.5, "--out", split)
    manifest = json.loads((split / "manifest.json").read_text())
    assert manifest["kept_count"] + manifest["removed_count"] == 12 and manifest["identities"] == 4
    ok("generate", "source-copy", "--dataset", market, "--split", split, "--out", gen)
    assert sorted(p.name for p in gen.glob("*.png")) == sorted(Path(r["to"]).with_suffix(".png").name for r in manifest["removed"])
    for name, generated in (("none", None), ("source-copy", gen)):
        extra = ["--generated", generated] if generated else []
        ok("train", "--dataset", market, "--split", split, "--out", runs / name, "--epochs", 1, *extra)
        ok("evaluate", runs / name, "--dataset", market, "--generator", name, "--p", 0.5, "--out", rec / name / "p50.json")
    record = json.loads((rec / "source-copy" / "p50.json").read_text())
    assert record["train"]["images"] == 12 and record["train"]["generated_count"] == manifest["removed_count"]
    assert "from scratch" in record["init_label"] and 0 <= record["metrics"]["map"] <= 1
    assert set(record["metrics"]) == {"rank-1", "rank-5", "rank-10", "map"}
    ok("table", rec, "--out", tmp_path / "tables", "--published", Path(__file__).resolve().parents[2] / "results" / "published.csv")
    table = (tmp_path / "tables" / "li2020pona-table-vi-reid.md").read_text()
    assert "| None (reduced set only) | 0.5 |" in table.replace("  ", " ").replace("  ", " ") or "None (reduced set only)" in table
    assert "from scratch" in table and "not the paper's ImageNet-initialised baseline" in table
    bad = run.invoke(app, ["reid", "train", "--dataset", str(market), "--split", str(tmp_path / "nope"), "--out", str(tmp_path / "x")])
    assert bad.exit_code == 1 and "manifest.json" in str(bad.exception) + bad.output
