"""PoNA Table VI re-measured: one row per (generator, p), measured beside published.

Records are ``bench reid evaluate`` JSONs (``results/reid/<generator>/<dataset>/p<NN>.json``);
published values come from ``results/published.csv`` (li2020pona, Table VI,
mAP only). A measured backbone that is not the paper's ImageNet-initialised
ResNet-50 is named in the header and in every row, so its numbers never pass for
the paper's metric.
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from bench.errors import DataError
from bench.io import atomic_write_text
from bench.leaderboard import NOT_REPORTED, latex_escape, load_published

PAPER, TABLE = "li2020pona", "Table VI"
LABELS = {"none": "None (reduced set only)", "vunet": "VUnet", "def-gan": "Deform", "patn": "PATN", "pona": "PoNA (Ours)",
          "source-copy": "source-copy (kept image copied)"}
STEM = "li2020pona-table-vi-reid"


def load_records(folder: str | Path) -> list[dict]:
    records = []
    for path in sorted(Path(folder).rglob("p*.json")):
        try:
            record = json.loads(path.read_text())
            records.append({**record, "_file": str(path)})
        except json.JSONDecodeError as err:
            raise DataError(path, f"not valid JSON: {err.msg}", err.lineno) from None
    return records


def map_interval(ap: list[float], level: float = 0.95, resamples: int = 2000, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean AP over queries (the queries resampled with replacement)."""
    import numpy as np

    ap = np.asarray(ap, dtype=float)
    draws = np.random.default_rng(seed).integers(0, len(ap), (resamples, len(ap)))
    means = ap[draws].mean(axis=1)
    return float(np.quantile(means, (1 - level) / 2)), float(np.quantile(means, (1 + level) / 2))


def _published(published: pd.DataFrame, generator: str, p: float) -> str:
    key = "" if generator == "none" else generator
    hit = published[(published["paper"] == PAPER) & (published["table"] == TABLE) & (published["model_key"] == key)
                     & (published["setting"] == f"p={p:g}")]
    return hit.iloc[0]["text"] if len(hit) else NOT_REPORTED


def _interval(ap) -> str:
    if not ap:
        return NOT_REPORTED
    lo, hi = map_interval(ap)
    return f"[{100 * lo:.1f}, {100 * hi:.1f}]"


def table_rows(records: list[dict], published_csv: str | Path) -> pd.DataFrame:
    published = load_published(published_csv)
    order = list(LABELS)
    rows = []
    for r in sorted(records, key=lambda r: (float(r["p"]), order.index(r["model"]) if r["model"] in order else 99, r["model"])):
        m = r["metrics"]
        rows.append({"Aug. model": LABELS.get(r["model"], r["model"]), "p": f"{float(r['p']):g}",
                     "dataset": r["dataset"]["folder"], "backbone": r["init_label"],
                     "rank-1 (%)": f"{100 * m['rank-1']:.1f}", "rank-5 (%)": f"{100 * m['rank-5']:.1f}",
                     "rank-10 (%)": f"{100 * m['rank-10']:.1f}", "mAP (%)": f"{100 * m['map']:.1f}",
                     "mAP 95% CI": _interval(r.get("per_query_ap")),
                     "published mAP (%)": _published(published, r["model"], float(r["p"]))})
    return pd.DataFrame(rows)


def write_table(records_dir: str | Path, published_csv: str | Path, out: str | Path) -> list[Path]:
    records = load_records(records_dir)
    if not records:
        raise DataError(records_dir, "no re-ID records (p*.json): run `bench reid evaluate` first")
    frame = table_rows(records, published_csv)
    backbones = sorted(set(frame["backbone"]))
    datasets = sorted(set(frame["dataset"]))
    note = (f"Measured on {', '.join(datasets)} with {'; '.join(backbones)}; CMC and mAP with the Market protocol "
            f"(AP: {', '.join(sorted({r['ap_convention'] for r in records}))}). Published: {PAPER} {TABLE}, real "
            "Market-1501, ImageNet-initialised ResNet-50 (mAP only). Measured and published numbers are not comparable "
            "unless dataset and backbone match. mAP 95% CI: percentile bootstrap over the queries (2,000 resamples, "
            "seed 0); it covers the query sample only, not the training seed.")
    shown = frame.drop(columns=["backbone"]) if len(backbones) == 1 else frame
    md = f"# {PAPER}, {TABLE}: re-ID with generated training images\n\n{shown.to_markdown(index=False)}\n\n{note}\n"
    tex = shown.rename(columns=latex_escape).map(latex_escape).style.hide(axis="index").to_latex(hrules=True)
    tex = f"% {latex_escape(note)}\n{tex}"
    out = Path(out)
    written = [out / f"{STEM}.md", out / f"{STEM}.tex"]
    atomic_write_text(written[0], md)
    atomic_write_text(written[1], tex)
    return written
