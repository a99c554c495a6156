"""results/published.csv against the text of the five seed papers.

Each table is cut out of its paper by caption (results/published_tables.yaml says
where), split into rows and cells, and every numeric cell must appear in the CSV at
the same (row, column) with the same printed text, the row's model label and the
column's dataset/metric -- and the CSV must hold nothing else for that table.
"""
from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
SEEDS = REPO.parent / "shared" / "seeds"
CSV_PATH = REPO / "results" / "published.csv"
SPEC_PATH = REPO / "results" / "published_tables.yaml"

CSV_COLUMNS = ["paper", "table", "row", "col", "dataset", "model", "model_key", "setting",
               "metric", "value", "text", "convention"]
METRICS = {"ssim", "mask-ssim", "is", "mask-is", "fid", "lpips", "mask-lpips", "psnr", "mask-psnr",
           "pckh", "params_m", "fps", "time_ms", "user-g2r", "user-prefer", "reid-map"}
DATASETS = {"market", "deepfashion", "unspecified"}

NUMBER = r"[+-]?(?:\d+(?:\.\d+)?|\.\d+)"
NUMERIC_CELL = re.compile(rf"({NUMBER})(?:\s*(?:M|fps|%))?")  # "437.09 M", "16.36 fps"
CAPTION = re.compile(r"^Table [0-9IVX]+[.:]")
TAG = re.compile(r"</?[a-z]+>")  # <b>, <u>, <i> around cells
EMPTY = "-"  # a cell the paper left empty

SPEC = yaml.safe_load(SPEC_PATH.read_text())
TABLES = SPEC["tables"]

needs_seeds = pytest.mark.skipif(not SEEDS.is_dir(), reason=f"seed papers not found at {SEEDS}")


@dataclass
class Row:
    label: str
    cells: list[str]  # value cells, left to right, tags stripped ("-" for an empty cell)


# ----------------------------------------------------------------------------- cutting tables out


def table_lines(text: str, spec: dict) -> list[str]:
    """The lines of ``spec``'s table (header rows included), located by its caption."""
    lines = text.splitlines()
    hits = [i for i, line in enumerate(lines) if line.startswith(spec["caption"])]
    assert len(hits) == 1, f"{spec['paper']} {spec['table']}: caption found {len(hits)} times"
    at = hits[0]
    if spec["side"] == "after":
        i = at + 1
        while i < len(lines) and not lines[i].strip():
            i += 1
        block = []
        while i < len(lines) and lines[i].strip():
            block.append(lines[i])
            i += 1
        return block
    starts = [i for i in range(at - 1, max(at - 40, -1), -1) if lines[i].startswith(spec["first"])]
    assert starts, f"{spec['paper']} {spec['table']}: no line starting {spec['first']!r} above the caption"
    block = lines[starts[0]:at]
    while block and not block[-1].strip():
        block.pop()
    return block


def is_number(cell: str) -> bool:
    return NUMERIC_CELL.fullmatch(cell) is not None


def split_row(line: str, spec: dict) -> Row:
    line = TAG.sub("", line)
    if spec.get("cells", "tab") == "tab":
        cells = [c.strip() for c in line.split("\t")]
        while cells and not cells[-1]:  # trailing tabs
            cells.pop()
        n = spec["label_columns"]
        return Row(" | ".join(cells[:n]), cells[n:])
    if spec.get("missing_cell"):
        line = re.sub(rf"(?<!\S){re.escape(spec['missing_cell'])}(?!\S)", EMPTY, line)
    tokens = line.split()
    n = next((i for i, t in enumerate(tokens) if is_number(t) or t in (EMPTY, "∞")), len(tokens))
    return Row(" ".join(tokens[:n]), tokens[n:])


def table_rows(text: str, spec: dict) -> list[Row]:
    """Body rows of a table, or for numbers quoted in running text one row per number."""
    if spec.get("kind") == "text":
        start = text.index(spec["caption"]) + len(spec["caption"])
        passage = text[start:text.index(spec["until"], start)]
        return [Row("", [n]) for n in re.findall(rf"(?<![\w.]){NUMBER}(?![\w.])", passage)]
    return [split_row(line, spec) for line in table_lines(text, spec)[spec["header_rows"]:]]


def expected_cells(rows: list[Row]) -> dict[tuple[int, int], str]:
    """(row, col) -> printed number, 1-based, numeric cells only."""
    return {(r, c): NUMERIC_CELL.fullmatch(cell).group(1)
            for r, row in enumerate(rows, 1) for c, cell in enumerate(row.cells, 1) if is_number(cell)}


# ----------------------------------------------------------------------------- checking


def load_csv(path: Path = CSV_PATH) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def problems(spec: dict, records: list[dict[str, str]], text: str) -> list[str]:
    """Everything in ``records`` (the CSV) that disagrees with ``spec``'s table in ``text``."""
    where = f"{spec['paper']} {spec['table']}"
    rows = table_rows(text, spec)
    expected = expected_cells(rows)
    mine = [r for r in records if (r["paper"], r["table"]) == (spec["paper"], spec["table"])]
    got = {(int(r["row"]), int(r["col"])): r for r in mine}
    out = []
    if len(got) != len(mine):
        out.append(f"{where}: duplicate (row, col) in the CSV")
    if len(mine) != len(expected):
        out.append(f"{where}: {len(mine)} numbers in the CSV, {len(expected)} numeric cells in the paper")
    for key in sorted(expected.keys() - got.keys()):
        out.append(f"{where} row {key[0]} col {key[1]}: {expected[key]} missing from the CSV")
    for key in sorted(got.keys() - expected.keys()):
        out.append(f"{where} row {key[0]} col {key[1]}: {got[key]['text']} is not a number in the paper")
    block = "\n".join(table_lines(text, spec)) if spec.get("kind") != "text" else text
    for key in sorted(expected.keys() & got.keys()):
        rec, at = got[key], f"{where} row {key[0]} col {key[1]}"
        if rec["text"] != expected[key]:
            out.append(f"{at}: CSV text {rec['text']!r}, paper prints {expected[key]!r}")
        if rec["text"] not in block:
            out.append(f"{at}: {rec['text']!r} does not occur in the table's text")
        if not math.isclose(float(rec["value"]), float(rec["text"]), rel_tol=0, abs_tol=1e-12):
            out.append(f"{at}: value {rec['value']} != text {rec['text']}")
        label, *more = rows[key[0] - 1].label.split(" | ")
        if spec.get("kind") != "text" and rec["model"] != label:
            out.append(f"{at}: model {rec['model']!r}, paper's row label {label!r}")
        if spec.get("row_setting") and rec["setting"] != spec["row_setting"].format(*more):
            out.append(f"{at}: setting {rec['setting']!r}, row is {spec['row_setting'].format(*more)!r}")
        column = spec["columns"][key[1] - 1].split("/")
        if [rec["dataset"], rec["metric"]] != column[:2]:
            out.append(f"{at}: {rec['dataset']}/{rec['metric']}, column is {'/'.join(column[:2])}")
        if len(column) == 3 and rec["setting"] != column[2]:
            out.append(f"{at}: setting {rec['setting']!r}, column is {column[2]!r}")
    return out


def seed_text(paper: str) -> str:
    return (SEEDS / SPEC["papers"][paper]).read_text(encoding="utf-8")


# ----------------------------------------------------------------------------- tests


def test_csv_schema():
    records = load_csv()
    with CSV_PATH.open(newline="") as f:
        assert next(csv.reader(f)) == CSV_COLUMNS
    specs = {(t["paper"], t["table"]) for t in TABLES}
    for i, r in enumerate(records, 2):
        assert (r["paper"], r["table"]) in specs, f"line {i}: no table spec for {r['paper']} {r['table']}"
        assert r["metric"] in METRICS, f"line {i}: unknown metric {r['metric']!r}"
        assert r["dataset"] in DATASETS, f"line {i}: unknown dataset {r['dataset']!r}"
        assert r["convention"], f"line {i}: no convention"
        assert r["model_key"] == r["model_key"].lower().replace(" ", "-"), f"line {i}: model_key {r['model_key']!r}"


@needs_seeds
def test_every_table_in_the_papers_has_a_spec():
    for paper, name in SPEC["papers"].items():
        captions = {CAPTION.match(line).group(0)[:-1] for line in seed_text(paper).splitlines() if CAPTION.match(line)}
        specified = {t["table"] for t in TABLES if t["paper"] == paper and t.get("kind") != "text"}
        assert captions == specified, f"{name}: tables {sorted(captions)} in the paper, {sorted(specified)} in the spec"


@needs_seeds
@pytest.mark.parametrize("spec", TABLES, ids=[f"{t['paper']}-{t['table']}" for t in TABLES])
def test_table_matches_seed(spec):
    found = problems(spec, load_csv(), seed_text(spec["paper"]))
    assert not found, "\n".join(found)


@needs_seeds
def test_checker_catches_a_mistyped_a_missing_and_a_misplaced_number():
    spec = next(t for t in TABLES if (t["paper"], t["table"]) == ("li2020pona", "Table I"))
    text, records = seed_text("li2020pona"), load_csv()
    assert not problems(spec, records, text)

    typo = [dict(r) for r in records]
    patn = next(r for r in typo if r["paper"] == "li2020pona" and r["table"] == "Table I" and r["text"] == "0.311")
    patn["text"], patn["value"] = "0.331", "0.331"
    assert any("paper prints '0.311'" in p for p in problems(spec, typo, text))

    dropped = [r for r in records if r is not next(
        r for r in records if r["paper"] == "li2020pona" and r["table"] == "Table I")]
    assert any("numbers in the CSV" in p for p in problems(spec, dropped, text))

    swapped = [dict(r) for r in records]
    cell = next(r for r in swapped if r["paper"] == "li2020pona" and r["table"] == "Table I" and r["col"] == "1")
    cell["metric"] = "mask-ssim"
    assert any("column is market/ssim" in p for p in problems(spec, swapped, text))


@needs_seeds
def test_tang_user_study_missing_cells_are_read_as_single_cells():
    spec = next(t for t in TABLES if (t["paper"], t["table"]) == ("tang2021", "Table 2"))
    rows = table_rows(seed_text("tang2021"), spec)
    assert rows[0].label == "VU-Net" and rows[0].cells == ["-", "11.44", "-", "1.00"]
    prefer = [float(row.cells[c]) for c in (1, 3) for row in rows]
    assert math.isclose(sum(prefer[:5]), 100.0) and math.isclose(sum(prefer[5:]), 100.0)
