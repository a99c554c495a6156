"""Golden outputs of bench.leaderboard on small hand-made tables.

The expected strings were checked by hand against the ranking rules: rank on the
printed rounding, ties share a rank (1, 1, 3), lower-is-better columns rank upwards,
n/a is never ranked, published numbers are shown but never ranked.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from bench.errors import BenchError, DataError
from bench.leaderboard import (
    load_published, load_results, measured_as, paper_table, ranks, render_latex, render_markdown,
)

NAN = math.nan


@pytest.fixture
def board() -> pd.DataFrame:
    return pd.DataFrame([
        ("pona", "market", "ssim", 0.3149, "ours"),  # prints 0.315: ties with patn
        ("patn", "market", "ssim", 0.3151, "ours"),
        ("pg2", "market", "ssim", 0.2996, "ours"),  # rank 3 after a tie: no underline
        ("pona", "market", "fid", 18.5, "ours"),  # lower is better
        ("patn", "market", "fid", 20.1234, "ours"),
        ("pg2", "market", "fid", NAN, "ours"),  # unavailable: n/a
        ("pona", "deepfashion", "params_m", 34.329356, "ours"),  # not a registered metric
        ("patn", "deepfashion", "params_m", 41.358019, "ours"),
        ("PATN [9]", "market", "ssim", 0.9, "published"),  # best in the column, yet not ranked
        ("PATN [9]", "deepfashion", "params_m", 41.36, "published"),
    ], columns=["model", "dataset", "metric", "value", "source"])


def test_ranks_follow_the_printed_rounding_and_share_ties():
    assert ranks([0.3149, 0.3151, 0.2996, None], 3, True) == [1, 1, 3, None]
    assert ranks([0.3149, 0.3151, 0.2996], 4, True) == [2, 1, 3]
    assert ranks([18.5, 20.1234, 18.4996], 3, False) == [1, 3, 1]
    assert ranks([1.0, 2.0], 3, None) == [None, None]


def test_markdown_golden(board):
    assert render_markdown(board) == (
        "| Model | Market-1501 / SSIM ↑ | Market-1501 / FID ↓ | DeepFashion / Params (M) ↓ |\n"
        "|:--|--:|--:|--:|\n"
        "| *measured* |  |  |  |\n"
        "| pona | **0.315** | **18.500** | **34.33** |\n"
        "| patn | **0.315** | <u>20.123</u> | <u>41.36</u> |\n"
        "| pg2 | 0.300 | n/a | n/a |\n"
        "| *published* |  |  |  |\n"
        "| PATN [9] | 0.900 | – | 41.36 |\n"
    )


def test_latex_golden(board):
    assert render_latex(board) == (
        "\\begin{tabular}{llrrr}\n"
        "\\toprule\n"
        " &  & \\multicolumn{2}{c}{Market-1501} & DeepFashion \\\\\n"
        " &  & SSIM $\\uparrow$ & FID $\\downarrow$ & Params (M) $\\downarrow$ \\\\\n"
        "\\midrule\n"
        "\\multirow[t]{3}{*}{measured} & pona & \\textbf{0.315} & \\textbf{18.500} & \\textbf{34.33} \\\\\n"
        " & patn & \\textbf{0.315} & \\underline{20.123} & \\underline{41.36} \\\\\n"
        " & pg2 & 0.300 & n/a & n/a \\\\\n"
        "published & PATN [9] & 0.900 & -- & 41.36 \\\\\n"
        "\\bottomrule\n"
        "\\end{tabular}\n"
    )


def test_single_dataset_measured_only_with_chosen_order(board):
    ours = board[board["source"] == "ours"]
    assert render_markdown(ours, datasets=["market"], metrics=["fid", "ssim"], models=["pg2", "pona", "patn"],
                           decimals={"ssim": 4}) == (
        "| Model | FID ↓ | SSIM ↑ |\n"
        "|:--|--:|--:|\n"
        "| pg2 | n/a | 0.2996 |\n"
        "| pona | **18.500** | <u>0.3149</u> |\n"
        "| patn | <u>20.123</u> | **0.3151** |\n"
    )


def test_the_real_data_row_is_shown_but_never_ranked(board):
    ours = pd.concat([board[board["source"] == "ours"],
                      pd.DataFrame([("real-data", "market", "ssim", 1.0, "ours")], columns=board.columns)])
    assert render_markdown(ours, datasets=["market"], metrics=["ssim"]) == (
        "| Model | SSIM ↑ |\n"
        "|:--|--:|\n"
        "| pona | **0.315** |\n"
        "| patn | **0.315** |\n"
        "| pg2 | 0.300 |\n"
        "| real-data | 1.000 |\n"
    )


def test_bad_tables_are_refused(board):
    with pytest.raises(BenchError, match="lacks column"):
        render_markdown(board.drop(columns="source"))
    with pytest.raises(BenchError, match="unknown source"):
        render_markdown(board.assign(source="theirs"))
    twice = pd.concat([board, board.iloc[[0]]])
    with pytest.raises(BenchError, match="more than one measured value for pona / market / ssim"):
        render_markdown(twice)


# ----------------------------------------------------------------------------- paper_table

PUBLISHED_COLUMNS = ["paper", "table", "row", "col", "dataset", "model", "model_key", "setting", "metric",
                     "value", "text", "convention"]


def TOY(model_key: str) -> bool:
    """The toy tables' methods (base, ours) count as implemented; rows without a key do not."""
    return bool(model_key)


@pytest.fixture
def toy_published() -> pd.DataFrame:
    return pd.DataFrame([
        ("toy2020", "Table 1", 1, 1, "market", "Base [3]", "base", "n=1", "ssim", 0.25, "0.250", "ssim@paper"),
        ("toy2020", "Table 1", 1, 2, "market", "Base [3]", "base", "n=1", "psnr", 28.1, "28.10", "psnr-uint8-wrap"),
        ("toy2020", "Table 1", 2, 1, "market", "Ours_x", "ours", "n=1", "ssim", 0.3, ".300", "ssim@paper"),
        ("toy2020", "Table 1", 2, 2, "market", "Ours_x", "ours", "n=1", "psnr", 28.3, "28.30", "psnr-uint8-wrap"),
        ("toy2020", "Table 1", 2, 3, "deepfashion", "Ours_x", "ours", "n=1", "fid", 9.5, "9.5", "fid@unknown"),
        ("toy2020", "Table 1", 3, 1, "market", "Ours_x", "ours", "n=3", "ssim", 0.35, "0.350", "ssim@paper"),
        ("toy2020", "Table 1", 3, 3, "deepfashion", "Ours_x", "ours", "n=3", "fid", 8.75, "8.75", "fid@unknown"),
    ], columns=PUBLISHED_COLUMNS)


@pytest.fixture
def toy_ours() -> pd.DataFrame:
    return pd.DataFrame([
        ("base", "market", "paper", "n=1", "ssim", 0.2604),  # ties with ours' 0.2596 at 0.260
        ("base", "market", "modern", "n=1", "ssim", 0.2),  # other protocol: not used for ssim@paper
        ("base", "market", "paper", "n=1", "psnr-uint8-wrap", 28.004),
        ("base", "market", "paper", "n=1", "psnr", 14.0),  # float PSNR: not what the paper printed
        ("ours", "market", "paper", "n=1", "ssim", 0.2596),
        ("ours", "market", "paper", "n=1", "psnr-uint8-wrap", 28.5),
        ("ours", "deepfashion", "paper", "n=1", "fid", 10.04),
        ("ours", "deepfashion", "paper", "n=3", "fid", 10.0),
        ("ours", "market", "paper", "n=3", "ssim", NAN),
    ], columns=["model", "dataset", "protocol", "setting", "metric", "value"])


def test_paper_table_golden(toy_published, toy_ours):
    md, tex = paper_table(toy_published, toy_ours, "toy2020", "Table 1", implemented=TOY)
    assert md == (
        "| Model | Market-1501 / SSIM ↑ | Market-1501 / PSNR (uint8) ↑ | DeepFashion / FID ↓ |\n"
        "|:--|--:|--:|--:|\n"
        "| Base [3], n=1 | **0.260** (0.250) | <u>28.00</u> (28.10) | n/a (–) |\n"
        "| Ours_x, n=1 | **0.260** (.300) | **28.50** (28.30) | <u>10.04</u> (9.5) |\n"
        "| Ours_x, n=3 | n/a (0.350) | n/a (–) | **10.00** (8.75) |\n"
        "\n"
        "Cells: measured (published in toy2020 Table 1). Only measured values are ranked.\n"
    )
    assert tex == (
        "\\begin{tabular}{lrrr}\n"
        "\\toprule\n"
        " & \\multicolumn{2}{c}{Market-1501} & DeepFashion \\\\\n"
        " & SSIM $\\uparrow$ & PSNR (uint8) $\\uparrow$ & FID $\\downarrow$ \\\\\n"
        "\\midrule\n"
        "Base [3], n=1 & \\textbf{0.260} (0.250) & \\underline{28.00} (28.10) & n/a (--) \\\\\n"
        "Ours\\_x, n=1 & \\textbf{0.260} (.300) & \\textbf{28.50} (28.30) & \\underline{10.04} (9.5) \\\\\n"
        "Ours\\_x, n=3 & n/a (0.350) & n/a (--) & \\textbf{10.00} (8.75) \\\\\n"
        "\\bottomrule\n"
        "\\end{tabular}\n"
    )


def test_paper_table_leaves_the_real_data_row_unranked(toy_published, toy_ours):
    real = pd.DataFrame([("toy2020", "Table 1", 4, 1, "market", "Real Data", "real-data", "", "ssim", 1.0, "1.000",
                          "ssim@paper")], columns=PUBLISHED_COLUMNS)
    measured = pd.DataFrame([("real-data", "market", "paper", "", "ssim", 1.0)], columns=toy_ours.columns)
    md, _ = paper_table(pd.concat([toy_published, real]), pd.concat([toy_ours, measured]), "toy2020", "Table 1",
                        implemented=TOY)
    assert "| Real Data | 1.000 (1.000) | n/a (–) | n/a (–) |" in md
    assert "| Base [3], n=1 | **0.260** (0.250) |" in md  # still first: the real-data row is outside the ranking


def test_paper_table_column_settings_go_in_the_header(toy_published):
    reid = pd.DataFrame([
        ("toy2020", "Table 6", r, c, "market", label, key, p, "reid-map", v, t, "reid-map-percent")
        for r, (label, key) in enumerate([("None", ""), ("Ours", "ours")], 1)
        for c, (p, v, t) in enumerate([("p=0.2", 42.3, "42.3"), ("p=1.0", 71.8, "71.8")], 1)
    ], columns=PUBLISHED_COLUMNS)
    ours = pd.DataFrame([("ours", "market", "reid-map", 60.04)], columns=["model", "dataset", "metric", "value"])
    md, _ = paper_table(reid, ours, "toy2020", "Table 6", implemented=TOY)
    assert md.splitlines()[:4] == [
        "| Model | re-ID mAP (%) p=0.2 ↑ | re-ID mAP (%) p=1.0 ↑ |",
        "|:--|--:|--:|",
        "| None (published only) | (42.3) | (71.8) |",  # no model key: nothing of ours to measure
        "| Ours | n/a (42.3) | n/a (71.8) |",
    ]
    # ours has no setting column, so it matches no p=... row: measured values stay n/a
    assert "60.0" not in md
    with pytest.raises(BenchError, match="no published numbers"):
        paper_table(reid, ours, "toy2020", "Table 9")


def test_measured_as():
    assert measured_as("psnr", "psnr-uint8-wrap") == ("psnr-uint8-wrap", None)
    assert measured_as("ssim", "ssim@paper") == ("ssim", "paper")
    assert measured_as("ssim", "ssim@unknown") == ("ssim", None)
    assert measured_as("params_m", "params-count") == ("params_m", None)


# ----------------------------------------------------------------------------- loading


def _record(model, kind, protocol, metrics):
    """The shape bench.evaluate writes (dataset and protocol are objects there)."""
    return {"record_version": 1, "model": model, "dataset": {"kind": kind, "root": "/d"},
            "protocol": {"name": protocol, "ssim_kernel": "legacy-13"}, "metrics": metrics}


def test_load_results_reads_evaluate_records(tmp_path):
    (tmp_path / "pona-market.json").write_text(json.dumps(_record("pona", "market", "paper", {
        "ssim": {"value": 0.3149, "reason": None, "higher_is_better": True},
        "fid": {"value": None, "reason": "no Inception weights", "higher_is_better": False},
    })))
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "patn.json").write_text(json.dumps(
        {"model": "patn", "dataset": "market", "protocol": "modern",
         "metrics": {"ssim": {"value": 0.3151, "reason": None, "higher_is_better": True}}}))
    (tmp_path / "pona-market.per-pair.csv").write_text("from,to,ssim\n")
    df = load_results(tmp_path)
    assert list(df[["model", "dataset", "protocol", "metric"]].itertuples(index=False, name=None)) == [
        ("pona", "market", "paper", "ssim"), ("pona", "market", "paper", "fid"), ("patn", "market", "modern", "ssim")]
    assert math.isnan(df["value"][1]) and df["reason"][1] == "no Inception weights"
    assert set(df["source"]) == {"ours"}
    with pytest.raises(BenchError, match=r"several protocols \(modern, paper\)"):
        render_markdown(df)
    assert render_markdown(df[df["protocol"] == "paper"]) == (
        "| Model | SSIM ↑ | FID ↓ |\n"
        "|:--|--:|--:|\n"
        "| pona | **0.315** | n/a |\n"
    )

def test_load_results_errors_name_the_file(tmp_path):
    bad = tmp_path / "broken.json"
    bad.write_text('{"model": "pona",\n "metrics": ')
    with pytest.raises(DataError, match="broken.json:2: not valid JSON"):
        load_results(tmp_path)
    bad.write_text(json.dumps({"model": "pona", "dataset": "market", "metrics": {}}))
    with pytest.raises(DataError, match="broken.json: evaluation record has no 'protocol' key"):
        load_results(tmp_path)
    with pytest.raises(DataError, match="does not exist"):
        load_results(tmp_path / "nowhere")


def test_paper_table_on_the_real_published_csv():
    published = load_published(Path(__file__).resolve().parents[1] / "results" / "published.csv")
    ours = pd.DataFrame([("pona", "market", "paper", "ssim", 0.3154), ("patn", "market", "paper", "ssim", 0.3111),
                         ("pona", "market", "paper", "psnr-uint8-wrap", 28.26)],
                        columns=["model", "dataset", "protocol", "metric", "value"])
    md, tex = paper_table(published, ours, "li2020pona", "Table I")
    lines = md.splitlines()
    assert lines[0].startswith("| Model | Market-1501 / SSIM ↑ | Market-1501 / IS ↑ |")
    assert "Market-1501 / PSNR (uint8) ↑" in lines[0]
    assert lines[5].startswith("| PATN [9] | <u>0.311</u> (0.311) | n/a (3.323) |")
    # LWG is not implemented here: its row shows the published numbers alone and says so
    assert lines[6] == "| LWG [27] (published only) | " + " | ".join(["(–)"] * 6 + ["(0.696)", "(3.478)", "(28.396)",
                                                                                    "(0.80)"]) + " |"
    assert "methods this benchmark does not implement" in md
    assert lines[7].startswith("| Ours (3 PoNA blocks) | **0.315** (0.315) |")
    assert "**28.260** (28.257)" in lines[7]
    assert "\\textbf{0.315} (0.315)" in tex

    # a first row with empty cells (Tang's VU-Net) must not reorder the columns
    md, _ = paper_table(published, ours, "tang2021", "Table 2")
    assert md.splitlines()[0] == ("| Model | Market-1501 / G2R (%) ↑ | Market-1501 / Prefer (%) ↑ | "
                                  "DeepFashion / G2R (%) ↑ | DeepFashion / Prefer (%) ↑ |")
    assert md.splitlines()[2] == "| VU-Net | n/a (–) | n/a (11.44) | n/a (–) | n/a (1.00) |"
