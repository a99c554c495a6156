"""Tang et al. Table 2 from a study database: G2R, R2G and Prefer (%), with 95% intervals, beside the published.

Every number is counted from the ``answers`` table alone: G2R = scored generated images of a
method answered "real" / scored generated images of that method; R2G = scored real images of
that method's blocks answered "real" / those real images; Prefer = preference groups of a
dataset in which the method was picked / groups answered. Intervals: Wilson over answers, and a
percentile bootstrap over participants (2000 resamples). Tang et al. print G2R and Prefer only;
R2G is shown with "–" as its published value.
"""
from __future__ import annotations

import json
import math
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.errors import BenchError
from bench.io import atomic_write_text, provenance
from bench.userstudy.plan import PREFERENCE, REALNESS
from bench.userstudy.pool import Study
from bench.userstudy.stats import bootstrap_participants, wilson
from bench.userstudy.store import Answer, StudyStore

MEASURES = ("g2r", "r2g", "prefer")
LABELS = {"g2r": "G2R (%)", "r2g": "R2G (%)", "prefer": "Prefer (%)"}
PUBLISHED_METRIC = {"g2r": "user-g2r", "prefer": "user-prefer"}  # results/published.csv
PAPER, TABLE = "tang2021", "Table 2"
DATASET_LABELS = {"market": "Market-1501", "deepfashion": "DeepFashion"}
NOT_REPORTED = "–"


@dataclass(frozen=True)
class Cell:
    dataset: str
    method: str
    measure: str
    hits: int
    n: int
    value: float  # %
    wilson: tuple[float, float]  # %
    bootstrap: tuple[float, float]  # % over participants
    participants: int


def _counts(answers: list[Answer], measure: str, dataset: str, method: str) -> dict[str, tuple[int, int]]:
    """participant -> (hits, n) of one measure."""
    out: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for a in answers:
        if a.dataset != dataset:
            continue
        if measure in ("g2r", "r2g"):
            truth = "generated" if measure == "g2r" else "real"
            if a.protocol != REALNESS or not a.scored or a.method != method or a.truth != truth:
                continue
            hit = a.answer == "real"
        else:
            if a.protocol != PREFERENCE:
                continue
            hit = a.answer == method
        out[a.participant][0] += hit
        out[a.participant][1] += 1
    return {p: (h, n) for p, (h, n) in out.items()}


def measure_cells(study: Study, answers: list[Answer], seed: int = 0) -> list[Cell]:
    cells = []
    for spec in study.config.datasets:
        for method in spec.methods:
            for measure in MEASURES:
                per = _counts(answers, measure, spec.name, method)
                hits, n = sum(h for h, _ in per.values()), sum(n for _, n in per.values())
                w = wilson(hits, n)
                b = bootstrap_participants(list(per.values()), seed=seed)
                cells.append(Cell(spec.name, method, measure, hits, n, 100 * w.value, (100 * w.low, 100 * w.high),
                                  (100 * b[0], 100 * b[1]), len(per)))
    return cells


def _published(path: Path | None) -> dict[tuple[str, str, str], str]:
    """(model_key, dataset kind, measure) -> the number as printed in Tang et al. Table 2; and row order."""
    if path is None:
        return {}
    from bench.leaderboard import load_published

    frame = load_published(path)
    frame = frame[(frame["paper"] == PAPER) & (frame["table"] == TABLE)]
    back = {v: k for k, v in PUBLISHED_METRIC.items()}
    return {(r.model_key, r.dataset, back[r.metric]): r.text for r in frame.itertuples() if r.metric in back}


def _published_rows(path: Path | None) -> list[tuple[str, str]]:
    if path is None:
        return []
    from bench.leaderboard import load_published

    frame = load_published(path)
    frame = frame[(frame["paper"] == PAPER) & (frame["table"] == TABLE)].sort_values(["row", "col"])
    return list(dict.fromkeys(zip(frame["model_key"], frame["model"])))


def _fmt(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.2f}"


def _interval(pair: tuple[float, float]) -> str:
    return "" if any(math.isnan(v) for v in pair) else f" [{pair[0]:.1f}, {pair[1]:.1f}]"


def summarize(study: Study, store: StudyStore, seed: int = 0) -> dict:
    """The numbers of Table 2 and what they come from, as JSON-ready data (the report's one source)."""
    answers = store.answers()
    if not answers:
        raise BenchError(f"{store.path}: no answers yet")
    participants = store.participants()
    cells = measure_cells(study, answers, seed)
    return {"study_hash": study.hash, "config": study.config.canonical(), "paper_protocol": study.config.is_paper_protocol,
            "kinds": {name: pool.kind for name, pool in study.pools.items()}, "database": str(store.path),
            "participants": {"total": len(participants), "scripted": sum(k == "scripted" for k in participants.values())},
            "answers": len(answers), "cells": [_json_cell(c) for c in cells], **provenance(seed=seed)}


def _json_cell(cell: Cell) -> dict:
    def clean(v):  # JSON has no NaN: an empty cell's value and intervals are null
        if isinstance(v, tuple):
            return [clean(x) for x in v]
        return None if isinstance(v, float) and math.isnan(v) else v

    return {k: clean(v) for k, v in asdict(cell).items()}


def _num(value) -> float:
    return math.nan if value is None else float(value)


def render(record: dict, published_csv: Path | None) -> str:
    """Markdown of Table 2 from :func:`summarize`'s record."""
    config = record["config"]
    published, order = _published(published_csv), _published_rows(published_csv)
    by = {(c["dataset"], c["method"], c["measure"]): c for c in record["cells"]}
    datasets = [d["name"] for d in config["datasets"]]
    studied = list(dict.fromkeys(m for d in config["datasets"] for m in d["methods"]))
    rows = [(key, label) for key, label in order] + [(m, m) for m in studied if m not in dict(order)]
    columns = [(d, m) for d in datasets for m in MEASURES]
    kinds = record["kinds"]

    def header(dataset, measure) -> str:
        return f"{dataset} ({DATASET_LABELS.get(kinds[dataset], kinds[dataset])}) / {LABELS[measure]} ↑"

    def table(which: str) -> list[str]:
        lines = ["| Model | " + " | ".join(header(d, m) for d, m in columns) + " |",
                 "|:--|" + "--:|" * len(columns)]
        for key, label in rows:
            texts = []
            for d, m in columns:
                pub = published.get((key, kinds[d], m), NOT_REPORTED)
                cell = by.get((d, key, m))
                if cell is None:
                    texts.append(f"not studied ({pub})")
                else:
                    low, high = (_num(v) for v in cell[which])
                    texts.append(f"{_fmt(_num(cell['value']))}{_interval((low, high))} ({pub})")
            name = label if label == key else f"{label} (`{key}`)"  # the paper's label, our model's name
            if key not in studied:
                name += " (not in this study)"
            if key not in dict(order):
                name = f"{label} (not in {PAPER} {TABLE})"
            lines.append(f"| {name} | " + " | ".join(texts) + " |")
        return lines

    people = record["participants"]
    answered = sorted({c["participants"] for c in record["cells"]})
    lines = [f"# {PAPER}, {TABLE}: user study", ""]
    if people["scripted"]:
        lines += [f"**SCRIPTED PILOT — NOT HUMAN DATA.** {people['scripted']} of the {people['total']} participants are "
                  "scripted robots (`bench study pilot`) that answer at random: the table checks the app, the database "
                  "and the report end to end. Its numbers say nothing about the methods.", ""]
    lines += [f"Participants: {people['total']}; answers: {record['answers']}. Cells: measured [95% Wilson interval] "
              f"(published in {PAPER} {TABLE}), in %. G2R: generated images rated real; R2G: real images rated real "
              "(Tang et al. do not report it); Prefer: share of preference groups in which the method was picked among "
              f"the methods of this study ({', '.join(studied)}). Published values are for the real datasets and Tang et "
              "al.'s five methods.", ""]
    lines += table("wilson")
    lines += ["", "The same measurements with a 95% percentile bootstrap over participants (2000 resamples), which "
              "allows for participants who differ in how often they say \"real\":", ""]
    lines += table("bootstrap")
    protocol = "the published protocol" if record["paper_protocol"] else "NOT the published protocol (55/55/10/1000/30)"
    lines += ["", "## Protocol and counts", "",
              f"Realness: per method {config['real']} real + {config['generated']} generated images, first "
              f"{config['warmup']} a warm-up, each shown {config['show_ms']} ms; preference: {config['groups']} groups "
              f"per dataset: {protocol}. Study hash `{record['study_hash'][:16]}`, commit "
              f"`{(record.get('git_commit') or 'unknown')[:12]}`; participants answering per cell: {answered}.", "",
              "| Dataset | Method | Measure | hits | n |", "|:--|:--|:--|--:|--:|"]
    lines += [f"| {c['dataset']} | {c['method']} | {c['measure']} | {c['hits']} | {c['n']} |" for c in record["cells"]]
    return "\n".join(lines) + "\n"


RECORD = Path("results/userstudy/tang2021-table-2.json")


def write_report(study: Study, store: StudyStore, out: str | Path, record_path: str | Path | None = None,
                 published_csv: str | Path | None = None, seed: int = 0) -> list[Path]:
    """Write the record (JSON, default ``out`` with suffix .json) and the Markdown table ``out`` from it."""
    record = summarize(study, store, seed)
    out = Path(out)
    record_path = Path(record_path) if record_path else out.with_suffix(".json")
    atomic_write_text(record_path, json.dumps(record, indent=1, allow_nan=False) + "\n")
    atomic_write_text(out, render(record, Path(published_csv) if published_csv else None))
    return [record_path, out]


def render_record(record_path: str | Path, published_csv: str | Path | None, out: str | Path) -> Path:
    """Re-render the table from a committed record (``bench report`` / the pipeline's report stage)."""
    from bench.io import read_text

    record = json.loads(read_text(record_path, "user-study record"))
    atomic_write_text(out, render(record, Path(published_csv) if published_csv else None))
    return Path(out)
