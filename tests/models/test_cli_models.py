"""`bench models`, `bench profile` and `bench import`."""
from __future__ import annotations

import json

import torch
from original_keys import original_pona_shapes, random_state
from typer.testing import CliRunner

from baselines.convert import FORMAT, load_generator
from bench.cli import app
from bench.registry import UnknownNameError

runner = CliRunner()


def test_models_json_lists_parameter_counts_per_dataset():
    result = runner.invoke(app, ["models", "--json"])
    assert result.exit_code == 0, result.output
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert rows["patn"]["params"] == {"market": 41_365_763, "deepfashion": 41_358_019}
    assert rows["pona"]["params"]["deepfashion"] == 34_329_356
    assert rows["pona-b2"]["params"]["market"] == 23_311_497
    assert "Zhu et al." in rows["patn"]["paper"] and "PoNA" in rows["pona-wo-self"]["paper"]
    assert rows["pona-b2"]["docs"] == "docs/models/pona.md" and rows["source-copy"]["docs"] is None


def test_models_table_and_pattern():
    result = runner.invoke(app, ["models", "pona-fuse-*"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split()[:2] == ["model", "G"] and len(lines) == 4
    assert "pona-fuse-tail" in result.stdout and "patn" not in result.stdout


def test_models_typo_lists_valid_names():
    result = runner.invoke(app, ["models", "patm"])
    assert isinstance(result.exception, UnknownNameError)
    assert "Did you mean patn" in str(result.exception) and "pona-wo-cross" in str(result.exception)


def test_profile_reports_parameters_and_speed():
    result = runner.invoke(app, ["profile", "pona", "--dataset", "market", "--width", "0.125",
                                 "--iters", "2", "--warmup", "1", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["params"]["generator"] > 0 and set(report["params"]["discriminators"]) == {"D_PB", "D_PP"}
    assert report["fps"] > 0 and report["batch"] == 1 and report["device"].startswith("cpu")
    assert report["config"] == {"width": 0.125} and report["provenance"]["git_commit"] is not None


def test_import_converts_an_original_checkpoint(tmp_path):
    original = random_state(original_pona_shapes(64, 1, "instance"), prefix="module.")
    source = tmp_path / "latest_net_netG.pth"
    torch.save(original, source)
    out = tmp_path / "ours" / "pona-b1.pt"
    result = runner.invoke(app, ["import", "pona-b1", str(source), "--dataset", "deepfashion", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.parent.iterdir()) == ["pona-b1.pt"]  # nothing half-written left
    record = torch.load(out, weights_only=True)
    assert record["format"] == FORMAT and record["model"] == "pona-b1" and record["config"]["n_blocks"] == 1
    model = load_generator(out)
    assert not model.training
    assert torch.equal(model.generator.att[0].dconv2.conv[4].weight, original["module.model.att.0.dconv2.conv.4.weight"])


def test_import_of_a_mismatched_checkpoint_fails_cleanly(tmp_path):
    source = tmp_path / "netG.pth"
    torch.save(random_state(original_pona_shapes(64, 1, "instance")), source)
    out = tmp_path / "out.pt"
    result = runner.invoke(app, ["import", "pona", str(source), "--dataset", "deepfashion", "--out", str(out)])
    assert result.exit_code != 0 and "missing key(s): model.att.1." in str(result.exception)
    assert not out.exists() and list(tmp_path.iterdir()) == [source]


def test_profile_times_several_models_in_interleaved_rounds(monkeypatch):
    # The order of the timed calls is the claim: all warm-ups first, then model 1, model 2, model 1, ...
    import bench.models.profile as prof

    calls = []
    real = prof._forwards

    def recording(model, inputs, n, dev):
        calls.append((type(model.generator).__name__, n))
        return real(model, inputs, n, dev)

    monkeypatch.setattr(prof, "_forwards", recording)
    results = prof.profile_interleaved(["pona-b1", "patn"], "market", iters=1, warmup=2, rounds=3, progress=False,
                                       config={"width": 0.125})
    names = [type(m.generator).__name__ for m in (prof.create_model("pona-b1", "market", width=0.125),
                                                     prof.create_model("patn", "market", width=0.125))]
    assert calls == [(names[0], 2), (names[1], 2)] + [(names[0], 1), (names[1], 1)] * 3
    for r in results:
        assert r["rounds"] == 3 and len(r["round_seconds_per_batch"]) == 3
        assert r["min_seconds_per_batch"] == min(r["round_seconds_per_batch"])
        assert r["seconds_per_batch"] == sorted(r["round_seconds_per_batch"])[1] and r["fps"] == 1 / r["seconds_per_batch"]
    # the parameter counts are the single-model profile's (the models are the same whether built alone or together)
    assert results[1]["params"] == prof.profile("patn", "market", iters=1, warmup=0, progress=False, width=0.125)["params"]


def test_profile_prints_a_side_by_side_table():
    result = runner.invoke(app, ["profile", "pona-b1", "patn", "--dataset", "market", "--width", "0.125",
                                 "--iters", "1", "--warmup", "0", "--rounds", "2"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert "2 interleaved rounds" in lines[0] and lines[1].split()[0] == "model"
    assert [line.split()[0] for line in lines[2:]] == ["pona-b1", "patn"]
    assert lines[2].split()[-1] == "1.00"  # the first model against itself
