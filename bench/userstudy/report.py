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


def render(study: Study, cells: list[Cell], participants: dict[str, str], published_csv: Path | None) -> str:
    config = study.config
    published, order = _published(published_csv), _published_rows(published_csv)
    by = {(c.dataset, c.method, c.measure): c for c in cells}
    studied = list(dict.fromkeys(m for d in config.datasets for m in d.methods))
    rows = [(key, label) for key, label in order] + [(m, m) for m in studied if m not in dict(order)]
    columns = [(d, m) for d in config.datasets for m in MEASURES]
    kinds = {d.name: study.pools[d.name].kind for d in config.datasets}

    def header(dataset, measure) -> str:
        return f"{dataset.name} ({DATASET_LABELS.get(kinds[dataset.name], kinds[dataset.name])}) / {LABELS[measure]} ↑"

    def table(which: str) -> list[str]:
        lines = ["| Model | " + " | ".join(header(d, m) for d, m in columns) + " |",
                 "|:--|" + "--:|" * len(columns)]
        for key, label in rows:
            texts = []
            for d, m in columns:
                pub = published.get((key, kinds[d.name], m), NOT_REPORTED)
                cell = by.get((d.name, key, m))
                if cell is None:
                    texts.append(f"not studied ({pub})")
                else:
                    interval = cell.wilson if which == "wilson" else cell.bootstrap
                    texts.append(f"{_fmt(cell.value)}{_interval(interval)} ({pub})")
            name = label if key in studied else f"{label} (not in this study)"
            if key not in dict(order):
                name = f"{label} (not in {PAPER} {TABLE})"
            lines.append(f"| {name} | " + " | ".join(texts) + " |")
        return lines

    scripted = sum(k == "scripted" for k in participants.values())
    answered = {c.participants for c in cells}
    lines = [f"# {PAPER}, {TABLE}: user study", ""]
    if scripted:
        lines += [f"**SCRIPTED PILOT — NOT HUMAN DATA.** {scripted} of the {len(participants)} participants are scripted "
                  "robots (`bench study pilot`) that answer at random: the table checks the app, the database and the "
                  "report end to end. Its numbers say nothing about the methods.", ""]
    lines += [f"Participants: {len(participants)}. Cells: measured [95% Wilson interval] (published in {PAPER} {TABLE}), "
              "in %. G2R: generated images rated real; R2G: real images rated real (Tang et al. do not report it); "
              "Prefer: share of preference groups in which the method was picked among the methods of this study "
              f"({', '.join(studied)}). Published values are for the real datasets and Tang et al.'s five methods.", ""]
    lines += table("wilson")
    lines += ["", "The same measurements with a 95% percentile bootstrap over participants (2000 resamples), which "
              "allows for participants who differ in how often they say \"real\":", ""]
    lines += table("bootstrap")
    protocol = "the published protocol" if config.is_paper_protocol else "NOT the published protocol (55/55/10/1000/30)"
    lines += ["", "## Protocol and counts", "",
              f"Realness: per method {config.real} real + {config.generated} generated images, first {config.warmup} "
              f"a warm-up, each shown {config.show_ms} ms; preference: {config.groups} groups per dataset: {protocol}.",
              f"Study hash `{study.hash[:16]}`; participants answering per cell: {sorted(answered)}.", "",
              "| Dataset | Method | Measure | hits | n |", "|:--|:--|:--|--:|--:|"]
    lines += [f"| {c.dataset} | {c.method} | {c.measure} | {c.hits} | {c.n} |" for c in cells]
    return "\n".join(lines) + "\n"


def write_report(study: Study, store: StudyStore, out: str | Path, published_csv: str | Path | None = None,
                 seed: int = 0) -> tuple[Path, Path]:
    """Write the Markdown table to ``out`` and its numbers (with provenance) to ``out`` with suffix .json."""
    answers = store.answers()
    if not answers:
        raise BenchError(f"{store.path}: no answers yet")
    participants = store.participants()
    cells = measure_cells(study, answers, seed)
    out = Path(out)
    text = render(study, cells, participants, Path(published_csv) if published_csv else None)
    record = {"study_hash": study.hash, "config": study.config.canonical(), "database": str(store.path),
              "participants": {"total": len(participants), "scripted": sum(k == "scripted" for k in participants.values())},
              "answers": len(answers), "cells": [asdict(c) for c in cells], **provenance(seed=seed)}
    atomic_write_text(out, text)
    atomic_write_text(out.with_suffix(".json"), json.dumps(record, indent=1) + "\n")
    return out, out.with_suffix(".json")
