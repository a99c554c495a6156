"""Settings end to end: n-source and Stage-I results reach the seed tables through real records.

Everything here goes through the real writers: a synthetic dataset (``bench data synth``),
its multi-source tuples (``bench data prepare``), one-iteration trained runs (``bench
train``), ``bench generate --sources/--stage`` and ``bench evaluate --sources/--stage``.
The tables are then built from those records (``load_results`` + ``paper_table`` on the
real results/published.csv), as the report stage builds them.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.train.run import generate, train
from bench.data.splits import MultiSourceConfig, prepare
from bench.data.synth import synthesize
from bench.errors import BenchError
from bench.evaluate import EvalConfig, evaluate
from bench.leaderboard import load_published, load_results, paper_table, render_markdown
from bench.setting import Setting

REPO = Path(__file__).resolve().parents[1]
METRICS = ("ssim", "mask-ssim")


def test_setting_labels_are_the_published_csv_settings():
    """Every setting printed in results/published.csv parses, and prints back identically."""
    published = load_published(REPO / "results" / "published.csv")
    labels = sorted(set(published["setting"]) - {""})
    assert labels == ["n=1", "n=10", "n=3", "p=0.2", "p=0.4", "p=0.6", "p=0.8", "p=1.0", "stage-1"]
    assert [Setting.parse(label).label() for label in labels] == labels
    assert Setting(sources=3, stage=1).label() == "n=3, stage-1" and Setting().label() == ""
    assert Setting.of_record({"sources": 10}) == Setting(sources=10)  # records written before settings existed
    with pytest.raises(BenchError, match="unknown setting 'k=3'"):
        Setting.parse("k=3")


@pytest.fixture(scope="module")
def scored(tmp_path_factory) -> Path:
    """Records of msdefgan / msdefgan-drender at n = 1, 3, 10 and VDG's Stage I, on a tiny synthetic Market."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("settings")
    data, pairs, records = root / "synth-market", root / "prepared", root / "metrics"
    # 3 train identities (one held out for validation) and 2 test identities of 14 images: 10 sources + target usable
    synthesize("synth-market", data, seed=0, identities_train=3, identities_test=2, images_per_identity=4,
               multi_source_identities=3, multi_source_images=14, progress=False)
    prepare(dataset=data, out=pairs, images_for_test=8,
            multi_source=MultiSourceConfig(k=(1, 3, 10), min_instances=11, val_fraction=0.34, max_test=6))
    cells = [("msdefgan", Setting(sources=n)) for n in (1, 3, 10)]
    cells += [("msdefgan-drender", Setting(sources=n)) for n in (1, 3, 10)] + [("vdg", Setting(stage=1))]
    for model in dict.fromkeys(m for m, _ in cells):
        overrides = {"batch_size": 1, "threads": 1, "model.g1_steps": 1} if model == "vdg" else {"batch_size": 1, "threads": 1}
        train(model, data, root / "runs" / model, profile="cpu", params=REPO / "params.yaml", pairs_dir=pairs,
              iterations=1, overrides=overrides, progress=False, sources=3 if model != "vdg" else None)
    for model, setting in cells:
        images = root / "generated" / model / setting.slug()
        generate(model, data, images, checkpoint=root / "runs" / model, pairs_dir=pairs, progress=False,
                 sources=setting.sources, stage=setting.stage)
        # Horiuchi et al.'s SSIM is skimage's current one (protocol modern, results/published.md)
        evaluate(EvalConfig(generated_dir=images, dataset=data, out=records / model / f"{setting.slug()}.json",
                            pairs_dir=pairs, metrics=METRICS, model=model, progress=False,
                            protocol="modern" if setting.sources else "paper",
                            sources=setting.sources, stage=setting.stage))
    torch.set_num_threads(threads)
    return records


def _number(cell: str) -> str:
    """The measured part of a "measured (published)" cell, without its rank emphasis."""
    return cell.split(" (")[0].replace("**", "").replace("<u>", "").replace("</u>", "")


def _row(md: str, label: str) -> list[str]:
    line = next(line for line in md.splitlines() if line.startswith(f"| {label} |"))
    return [cell.strip() for cell in line.strip("|").split("|")][1:]


def test_records_carry_their_setting(scored):
    record = json.loads((scored / "msdefgan" / "n3.json").read_text())
    assert record["setting"] == {"sources": 3, "stage": 0, "portion": None, "label": "n=3"}
    assert json.loads((scored / "vdg" / "stage-1.json").read_text())["setting"]["label"] == "stage-1"
    ours = load_results(scored)
    assert sorted(set(zip(ours["model"], ours["setting"]))) == [
        ("msdefgan", "n=1"), ("msdefgan", "n=10"), ("msdefgan", "n=3"), ("msdefgan-drender", "n=1"),
        ("msdefgan-drender", "n=10"), ("msdefgan-drender", "n=3"), ("vdg", "stage-1")]
    assert set(ours["synthetic"]) == {True}
    # the leaderboard keys rows on (model, setting): one row each, no "more than one measured value"
    board = render_markdown(ours[ours["protocol"] == "modern"], metrics=list(METRICS))
    assert "| msdefgan, n=10 |" in board and "| msdefgan, n=1 |" in board


def test_horiuchi_table_1_is_measured_in_every_n_row(scored):
    ours = load_results(scored)
    md, _ = paper_table(load_published(REPO / "results" / "published.csv"), ours, "horiuchi2021", "Table 1")
    for label, model, n in [("MS-DefGAN [7], n=1", "msdefgan", 1), ("Ours, n=1", "msdefgan-drender", 1),
                            ("MS-DefGAN [7], n=3", "msdefgan", 3), ("Ours, n=3", "msdefgan-drender", 3),
                            ("MS-DefGAN [7], n=10", "msdefgan", 10), ("Ours, n=10", "msdefgan-drender", 10)]:
        ssim, is_, mask_ssim, mask_is = _row(md, label)
        record = json.loads((scored / model / f"n{n}.json").read_text())["metrics"]
        for cell, metric in ((ssim, "ssim"), (mask_ssim, "mask-ssim")):
            assert _number(cell) == f"{record[metric]['value']:.3f}", (label, metric, cell)
        assert is_.startswith("n/a") and mask_is.startswith("n/a")  # IS was not asked for here
    assert "SYNTHETIC" in md  # the caption says what the measured cells are


def test_lakhal_table_3_stage_one_row_is_measured(scored):
    ours = load_results(scored)
    md, _ = paper_table(load_published(REPO / "results" / "published.csv"), ours, "lakhal2018munet", "Table 3")
    value = json.loads((scored / "vdg" / "stage-1.json").read_text())["metrics"]["ssim"]["value"]
    assert _number(_row(md, "VDG [2], stage-1")[0]) == f"{value:.3f}"
    assert _row(md, "VDG [2]")[0].startswith("n/a")  # the Stage-I record does not fill the full model's row
    assert _row(md, "PDIG [21] (published only)")[0] == "(.099)"


def test_lakhal_timings_are_filled_by_profile_records(tmp_path):
    """The profile stage's record (pipelines/profile.py) fills Lakhal et al.'s Text Sec. 3 time per sample."""
    from bench.models.profile import profile
    from bench.results import write_record
    from pipelines.profile import record

    for model in ("vdg", "vdg-munet"):
        result = profile(model, dataset="market", iters=1, warmup=0, progress=False, width=0.125)
        write_record(tmp_path / f"{model}.json", record(model, result))
        assert record(model, result).metrics["time_ms"].value == pytest.approx(1000 * result["seconds_per_batch"])
    md, _ = paper_table(load_published(REPO / "results" / "published.csv"), load_results(tmp_path),
                        "lakhal2018munet", "Text Sec. 3")
    measured = json.loads((tmp_path / "vdg.json").read_text())["metrics"]["time_ms"]["value"]
    assert _number(_row(md, "No-mask")[0]) == f"{measured:.1f}"  # the paper's "unspecified" dataset matches any
    assert _row(md, "mUNet_g")[0].startswith("n/a")  # not profiled here


@pytest.fixture(scope="module")
def scored_posegan(tmp_path_factory) -> Path:
    """Records in pose-gan's 256x256 DeepFashion frame (the pipeline's `frame` dataset): msdefgan and
    msdefgan-drender at n = 1, 3 (protocol posegan-modern) and VDG's Stage I and full output (posegan)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("settings-posegan")
    data, pairs, records = root / "synth-fashion-posegan", root / "prepared", root / "metrics"
    synthesize("synth-fashion-posegan", data, seed=0, identities_train=3, identities_test=2, images_per_identity=5,
               progress=False)
    prepare(dataset=data, out=pairs, images_for_test=4,
            multi_source=MultiSourceConfig(k=(1, 3), min_instances=4, val_fraction=0.34, max_test=3))
    cells = [(model, Setting(sources=n), "posegan-modern") for model in ("msdefgan", "msdefgan-drender") for n in (1, 3)]
    cells += [("vdg", Setting(stage=1), "posegan"), ("vdg", Setting(), "posegan")]
    for model in dict.fromkeys(m for m, _, _ in cells):
        overrides = {"batch_size": 1, "threads": 1} | ({"model.g1_steps": 1} if model == "vdg" else {})
        train(model, data, root / "runs" / model, profile="cpu", params=REPO / "params.yaml", pairs_dir=pairs,
              iterations=1, overrides=overrides, progress=False, sources=3 if model != "vdg" else None)
    for model, setting, protocol in cells:
        images = root / "generated" / model / (setting.slug() or "default")
        generate(model, data, images, checkpoint=root / "runs" / model, pairs_dir=pairs, progress=False,
                 sources=setting.sources, stage=setting.stage)
        evaluate(EvalConfig(generated_dir=images, dataset=data, out=records / model / f"{setting.slug() or 'default'}.json",
                            pairs_dir=pairs, metrics=("ssim",), model=model, progress=False, protocol=protocol,
                            sources=setting.sources, stage=setting.stage))
    torch.set_num_threads(threads)
    return records


def test_horiuchi_table_2_is_measured_in_every_n_row(scored_posegan):
    """Table 2 (DeepFashion) is filled only by posegan-modern records of a pose-gan-frame dataset."""
    md, _ = paper_table(load_published(REPO / "results" / "published.csv"), load_results(scored_posegan),
                        "horiuchi2021", "Table 2")
    for label, model, n in [("MS-DefGAN [7], n=1", "msdefgan", 1), ("Ours, n=1", "msdefgan-drender", 1),
                            ("MS-DefGAN [7], n=3", "msdefgan", 3), ("Ours, n=3", "msdefgan-drender", 3)]:
        ssim, is_ = _row(md, label)
        record = json.loads((scored_posegan / model / f"n{n}.json").read_text())
        assert record["protocol"]["name"] == "posegan-modern" and record["dataset"]["image_size"] == [256, 256]
        assert _number(ssim) == f"{record['metrics']['ssim']['value']:.3f}", (label, ssim)
        assert is_.startswith("n/a")
    assert _row(md, "VUnet [2], n=1")[0].startswith("n/a")  # not scored here
    assert "synth-fashion-posegan" in md and "SYNTHETIC" in md


def test_lakhal_table_3_deepfashion_columns_take_posegan_records(scored_posegan):
    md, _ = paper_table(load_published(REPO / "results" / "published.csv"), load_results(scored_posegan),
                        "lakhal2018munet", "Table 3")
    for label, slug in (("VDG [2], stage-1", "stage-1"), ("VDG [2]", "default")):
        value = json.loads((scored_posegan / "vdg" / f"{slug}.json").read_text())["metrics"]["ssim"]["value"]
        row = _row(md, label)
        assert _number(row[4]) == f"{value:.3f}"  # DeepFashion / SSIM, in pose-gan's frame
        assert row[0].startswith("n/a")  # Market: nothing measured here
