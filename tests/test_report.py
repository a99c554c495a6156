from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from bench.cli import app

REPO = Path(__file__).resolve().parents[1]


def record(model: str, ssim: float, pckh: float | None) -> dict:
    return {
        "model": model,
        "dataset": {"kind": "market", "root": "data/synth-market"},
        "protocol": {"name": "paper"},
        "metrics": {
            "ssim": {"value": ssim, "reason": None, "higher_is_better": True},
            "pckh": {"value": pckh, "reason": None if pckh is not None else "no pose estimator", "higher_is_better": True},
        },
    }


def write_records(root: Path) -> Path:
    metrics = root / "metrics"
    for model, ssim, pckh in (("patn", 0.3114, 0.9), ("pona", 0.3151, None), ("source-copy", 0.3076, 0.3)):
        path = metrics / model / "synth-market.json"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps(record(model, ssim, pckh)))
    return metrics


def test_report_writes_leaderboard_and_every_paper_table(tmp_path):
    metrics = write_records(tmp_path)
    result = CliRunner().invoke(app, ["report", str(metrics), "--out", str(tmp_path / "out"),
                                      "--published", str(REPO / "results" / "published.csv")])
    assert result.exit_code == 0, result.output
    board = (tmp_path / "out" / "leaderboard.md").read_text()
    assert "measured on synth-market" in board
    assert "| pona | **0.315** | n/a |" in board  # best SSIM bold; unavailable PCKh is n/a
    assert "| patn | <u>0.311</u> | **0.90** |" in board  # PCKh printed with 2 decimals, as PoNA
    assert "- **pckh**: no pose estimator" in board
    assert (tmp_path / "out" / "leaderboard.tex").read_text().count(r"\textbf{") == 2
    tables = sorted(p.name for p in (tmp_path / "out" / "tables").glob("*.md"))
    assert "li2020pona-table-i.md" in tables and len(tables) >= 12
    pona_table = (tmp_path / "out" / "tables" / "li2020pona-table-i.md").read_text()
    assert "| PATN [9] | <u>0.311</u> (0.311) |" in pona_table  # measured beside published, ranked (pona is first)
    assert (tmp_path / "out" / "figures" / "bars-market-paper" / "ssim.png").exists()


def test_report_without_records_is_a_clear_error(tmp_path):
    (tmp_path / "metrics").mkdir()
    result = CliRunner().invoke(app, ["report", str(tmp_path / "metrics"), "--out", str(tmp_path / "out")])
    assert result.exit_code != 0
    assert "no evaluation records" in str(result.exception) + result.output


def test_report_draws_one_loss_figure_per_run_that_logged_losses(tmp_path):
    from PIL import Image

    from bench.report import write_report

    metrics = write_records(tmp_path)
    runs = tmp_path / "runs"
    (runs / "patn").mkdir(parents=True)
    (runs / "patn" / "train_log.csv").write_text("step,lr_g,G/l1,D_PB/real\n5,0.0002,0.9,0.7\n10,0.0002,0.5,0.6\n")
    (runs / "source-copy").mkdir()
    (runs / "source-copy" / "train_log.csv").write_text("step\n")  # a reference row logs nothing
    (runs / "killed").mkdir()
    (runs / "killed" / "train_log.csv").write_text("step,lr_g,G/l1\n")  # killed before its first log row
    written = write_report(metrics, tmp_path / "out",
                           runs={"synth-market": {m: runs / m for m in ("patn", "source-copy", "killed", "absent")}})
    loss = sorted(p.relative_to(tmp_path / "out") for p in written if "loss" in p.parts)
    assert loss == [Path("figures/loss/synth-market/patn.png")]
    width, height = Image.open(tmp_path / "out" / loss[0]).size
    assert (width, height) == (640, 480)  # two panels (G, D_PB)
