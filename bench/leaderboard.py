"""Leaderboard tables: what we measured, laid out like the papers, beside what they published.

Input is a tidy DataFrame, one value per row: ``model, dataset, metric, value, source``
(``source`` is "ours" or "published"; optional for measured rows: ``protocol``; for
published rows: ``text`` = the number as printed, ``paper``/``table``/``setting`` for
the row label, ``convention`` = which of our metrics reproduces it, see
:func:`measured_as` and results/published.md).
Output is Markdown (arrows in the headers, best **bold**, second <u>underlined</u>) or
LaTeX through pandas' Styler (booktabs rules, ``\\textbf``/``\\underline``).

Ranking rules, shared by both formats:
* only measured ("ours") values are ranked; published numbers are shown, never ranked;
* values are ranked as printed: rounded to the column's decimals first, so equal
  printed numbers tie, and ties share a rank (competition ranking: 1, 1, 3);
* rank 1 is bold, rank 2 underlined (a tie for first leaves no second);
* the ``real-data`` row (test targets scored against themselves) is an upper bound,
  not a competitor: shown, never ranked (PoNA prints its "Real Data" row plain);
* a missing or unavailable value prints ``n/a`` and is not ranked; a number the paper
  did not report prints ``–`` (``--`` in LaTeX).
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from bench.errors import BenchError, DataError
from bench.metrics.protocol import DEFAULT_PROTOCOL
from bench.metrics.specs import metric_label, quantity
from bench.registry import MODELS
from bench.results import metric_value, read_records

REQUIRED = ("model", "dataset", "metric", "value", "source")
SOURCES = ("ours", "published")
NA, NOT_REPORTED = "n/a", "–"
UNSPECIFIED = "unspecified"  # results/published.csv: the paper does not say on which dataset (Lakhal's timings)
UNRANKED = frozenset({"real-data"})  # reference rows shown beside the ranking, outside it

DATASET_LABELS = {"market": "Market-1501", "deepfashion": "DeepFashion"}


def higher_is_better(metric: str) -> bool | None:
    """From the metric's spec (bench/metrics/specs.py); None for a quantity no table knows."""
    spec = quantity(metric)
    return spec.higher_is_better if spec else None


# ----------------------------------------------------------------------------- loading


def load_results(metrics_dir: str | Path) -> pd.DataFrame:
    """Every evaluation record (``bench evaluate`` JSON) under ``metrics_dir`` as tidy rows.

    Columns: model, setting (:meth:`bench.setting.Setting.label`, "" for the default), dataset,
    protocol, metric, value (NaN when unavailable), reason, higher_is_better, source ("ours"), file,
    dataset_folder (name of the dataset root, if recorded), synthetic (True when that root was written
    by ``bench data synth``, None when the root is not recorded or not readable here), estimator (the
    pose estimator behind a PCKh, None for other metrics).
    """
    root = Path(metrics_dir)
    if not root.is_dir():
        raise DataError(root, "metrics folder does not exist")
    rows = []
    for path, record in read_records(root).items():
        setting, folder = record.setting_label(), record.dataset_root
        for name, m in record.metrics.items():
            details = m.details if isinstance(m.details, dict) else {}
            rows.append({
                "model": record.model,
                "setting": setting,
                "dataset": record.dataset_kind,
                "protocol": record.protocol_name,
                "metric": name,
                "value": metric_value(m),
                "reason": m.reason,
                "higher_is_better": m.higher_is_better,
                "source": "ours",
                "file": str(path),
                "dataset_folder": folder.name if folder is not None else None,
                "synthetic": _synthetic(folder),
                # which pose estimator found the keypoints a PCKh is computed from (the metric's own details first)
                "estimator": details.get("estimator") or (record.get("estimator") if name == "pckh" else None),
            })
    columns = ["model", "setting", "dataset", "protocol", "metric", "value", "reason", "higher_is_better", "source",
               "file", "dataset_folder", "synthetic", "estimator"]
    return pd.DataFrame(rows, columns=columns)


def _synthetic(root: Path | None) -> bool | None:
    """Whether a dataset root is an embedded synthetic dataset (it holds ``bench data synth``'s info file)."""
    from bench.data.synth.dataset import INFO_FILE

    if root is None or not root.is_dir():
        return None
    return (root / INFO_FILE).is_file()


def row_label(model: str, setting: str | None) -> str:
    """A measured row: the model, with its setting when it is not the default (``msdefgan, n=3``)."""
    return f"{model}, {setting}" if isinstance(setting, str) and setting else model


def load_published(path: str | Path) -> pd.DataFrame:
    """results/published.csv, with ``text`` kept as printed (no float round trip)."""
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame["value"] = pd.to_numeric(frame["value"])
    frame["row"], frame["col"] = frame["row"].astype(int), frame["col"].astype(int)
    return frame


# ----------------------------------------------------------------------------- the grid both formats render


@dataclass(frozen=True)
class Column:
    dataset: str
    label: str  # metric label, arrow excluded
    higher: bool | None


@dataclass(frozen=True)
class Cell:
    text: str  # the ranked number as displayed (emphasis goes around it)
    rank: int | None = None
    suffix: str = ""  # shown after it, never emphasised (paper_table: " (published)")


@dataclass
class Grid:
    columns: list[Column]
    rows: list[tuple[str, str]]  # (group, label); group "" when there is a single group
    cells: dict[tuple[int, int], Cell]
    note: str = ""


def fmt(value: float, decimals: int) -> str:
    return f"{value:.{decimals}f}"


def ranks(values: list[float | None], decimals: int, higher: bool | None) -> list[int | None]:
    """Competition ranks of the values as printed; None for missing values or no direction."""
    if higher is None:
        return [None] * len(values)
    printed = [None if v is None or math.isnan(v) else float(fmt(v, decimals)) for v in values]
    present = [p for p in printed if p is not None]
    better = (lambda a, b: a > b) if higher else (lambda a, b: a < b)
    return [None if p is None else 1 + sum(better(q, p) for q in present) for p in printed]


def rankable(values: list[float | None], models: list[str]) -> list[float | None]:
    """``values`` with the unranked rows' entries blanked, for :func:`ranks`."""
    return [None if model in UNRANKED else v for v, model in zip(values, models)]


def arrow(higher: bool | None, latex: bool = False) -> str:
    if higher is None:
        return ""
    if latex:
        return r" $\uparrow$" if higher else r" $\downarrow$"
    return " ↑" if higher else " ↓"


def metric_decimals(metric: str, decimals: int | dict[str, int] | None) -> int:
    if isinstance(decimals, int):
        return decimals
    spec = quantity(metric)
    return (decimals or {}).get(metric, spec.decimals if spec else 3)


def _check_frame(df: pd.DataFrame) -> None:
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise BenchError(f"results table lacks column(s) {', '.join(missing)} (needs {', '.join(REQUIRED)})")
    bad = sorted(set(df["source"]) - set(SOURCES))
    if bad:
        raise BenchError(f"unknown source(s) {', '.join(map(str, bad))}; valid: {', '.join(SOURCES)}")


def _ordered(values, given) -> list:
    return list(given) if given is not None else list(dict.fromkeys(values))


def _split_sources(df: pd.DataFrame, datasets, metrics) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(measured, published) rows after filtering, published metrics mapped to what they measure."""
    _check_frame(df)
    published = df[df["source"] == "published"]
    if "convention" in published:  # e.g. PoNA's PSNR goes in the psnr-uint8-wrap column, not psnr
        published = published.assign(metric=[measured_as(m, c)[0] for m, c in
                                              zip(published["metric"], published["convention"].fillna(""))])
    published = published.assign(_label=_published_labels(published))
    both = pd.concat([df[df["source"] == "ours"], published])
    if datasets is not None:
        both = both[both["dataset"].isin(datasets)]
    if metrics is not None:
        both = both[both["metric"].isin(metrics)]
    ours, published = both[both["source"] == "ours"], both[both["source"] == "published"]
    settings = ours["setting"] if "setting" in ours else pd.Series("", index=ours.index)
    ours = ours.assign(_row=[row_label(m, s) for m, s in zip(ours["model"], settings)])
    if "protocol" in ours and ours["protocol"].nunique() > 1:  # never mix protocols silently
        raise BenchError(f"measured results come from several protocols ({', '.join(sorted(ours['protocol'].unique()))});"
                         " tabulate one protocol at a time")
    for frame, key, what in ((ours, "_row", "measured"), (published, "_label", "published")):
        dupes = frame[frame.duplicated([key, "dataset", "metric"], keep=False)]
        if len(dupes):
            first = dupes.iloc[0]
            raise BenchError(f"more than one {what} value for {first[key]} / {first['dataset']} / {first['metric']}"
                             " (filter to one protocol / one published table first)")
    return ours, published


def leaderboard_grid(df: pd.DataFrame, *, datasets=None, metrics=None, models=None,
                     decimals: int | dict[str, int] | None = None) -> Grid:
    """Rows = models (measured, then published), columns = metrics grouped by dataset."""
    ours, published = _split_sources(df, datasets, metrics)
    both = pd.concat([ours, published])
    keys = [(d, m) for d in _ordered(both["dataset"], datasets)
            for m in _ordered(both["metric"], metrics) if ((both["dataset"] == d) & (both["metric"] == m)).any()]
    if not keys:
        raise BenchError("nothing to tabulate: no values for the requested datasets and metrics")
    columns = [Column(d, metric_label(m), higher_is_better(m)) for d, m in keys]
    row_models = _ordered(ours["_row"], models)
    pub_rows = list(dict.fromkeys(published["_label"]))
    groups = bool(pub_rows) and bool(row_models)
    rows = [("measured" if groups else "", m) for m in row_models] + [("published" if groups else "", p) for p in pub_rows]
    cells: dict[tuple[int, int], Cell] = {}
    for j, (dataset, metric) in enumerate(keys):
        d = metric_decimals(metric, decimals)
        here = ours[(ours["dataset"] == dataset) & (ours["metric"] == metric)].set_index("_row")["value"]
        values = [float(here[m]) if m in here.index and not pd.isna(here[m]) else None for m in row_models]
        for i, (v, r) in enumerate(zip(values, ranks(rankable(values, row_models), d, columns[j].higher))):
            cells[i, j] = Cell(NA if v is None else fmt(v, d), r)
        shown = published[(published["dataset"] == dataset) & (published["metric"] == metric)]
        for i, label in enumerate(pub_rows, len(row_models)):
            hit = shown[shown["_label"] == label]
            cells[i, j] = Cell(_published_text(hit.iloc[0], d) if len(hit) else NOT_REPORTED)
    return Grid(columns, rows, cells, note=estimator_note(ours))


def _published_labels(published: pd.DataFrame) -> list[str]:
    """Row label as printed, with its setting and, when known, the paper and table it is from."""
    labels = []
    for _, r in published.iterrows():
        label = str(r["model"])
        if isinstance(r.get("setting"), str) and r["setting"]:
            label += f", {r['setting']}"
        origin = " ".join(str(r[k]) for k in ("paper", "table") if isinstance(r.get(k), str) and r[k])
        labels.append(f"{label} ({origin})" if origin else label)
    return labels


def _published_text(record: pd.Series, decimals: int) -> str:
    text = record.get("text")
    if isinstance(text, str) and text:
        return text
    return NA if pd.isna(record["value"]) else fmt(float(record["value"]), decimals)


# ----------------------------------------------------------------------------- rendering


def _multi_dataset(grid: Grid) -> bool:
    return len({c.dataset for c in grid.columns}) > 1


def grid_markdown(grid: Grid, corner: str = "Model") -> str:
    def header(c: Column) -> str:
        name = f"{DATASET_LABELS.get(c.dataset, c.dataset)} / {c.label}" if _multi_dataset(grid) else c.label
        return name + arrow(c.higher)

    def emphasis(cell: Cell) -> str:
        text = {1: f"**{cell.text}**", 2: f"<u>{cell.text}</u>"}.get(cell.rank, cell.text) + cell.suffix
        return text.replace("|", "\\|")

    lines = ["| " + " | ".join([corner, *map(header, grid.columns)]) + " |",
             "|" + "|".join([":--", *["--:"] * len(grid.columns)]) + "|"]
    group = ""
    for i, (row_group, label) in enumerate(grid.rows):
        if row_group and row_group != group:
            lines.append("| " + " | ".join([f"*{row_group}*", *[""] * len(grid.columns)]) + " |")
            group = row_group
        lines.append("| " + " | ".join([label.replace("|", "\\|"), *(emphasis(grid.cells[i, j]) for j in range(len(grid.columns)))]) + " |")
    text = "\n".join(lines) + "\n"
    return text + (f"\n{grid.note}\n" if grid.note else "")


LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                 "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def latex_escape(text: str) -> str:
    return "".join(LATEX_SPECIAL.get(ch, ch) for ch in text).replace(NOT_REPORTED, "--")


def grid_latex(grid: Grid) -> str:
    headers = [latex_escape(c.label) + arrow(c.higher, latex=True) for c in grid.columns]
    if _multi_dataset(grid):
        columns = pd.MultiIndex.from_arrays([[latex_escape(DATASET_LABELS.get(c.dataset, c.dataset))
                                              for c in grid.columns], headers])
    else:
        columns = pd.Index(headers)
    labels = [latex_escape(label) for _, label in grid.rows]
    grouped = any(group for group, _ in grid.rows)
    index = pd.MultiIndex.from_arrays([[g for g, _ in grid.rows], labels]) if grouped else pd.Index(labels)
    n, m = len(grid.rows), len(grid.columns)
    frame = pd.DataFrame([[_latex_cell(grid.cells[i, j]) for j in range(m)] for i in range(n)],
                         index=index, columns=columns)
    return frame.style.to_latex(hrules=True, column_format="l" * index.nlevels + "r" * m,
                                multicol_align="c", multirow_align="t")


def _latex_cell(cell: Cell) -> str:
    text = latex_escape(cell.text)
    return {1: rf"\textbf{{{text}}}", 2: rf"\underline{{{text}}}"}.get(cell.rank, text) + latex_escape(cell.suffix)


def render_markdown(df: pd.DataFrame, **options) -> str:
    """Markdown leaderboard; options: datasets, metrics, models (orders/filters), decimals."""
    return grid_markdown(leaderboard_grid(df, **options))


def render_latex(df: pd.DataFrame, **options) -> str:
    """booktabs LaTeX leaderboard (rows grouped with \\multirow when published rows are shown)."""
    return grid_latex(leaderboard_grid(df, **options))


# ----------------------------------------------------------------------------- one paper's table, re-measured


def measured_as(metric: str, convention: str) -> tuple[str, str | None]:
    """(our metric, our protocol) that reproduces a published column, from its convention.

    ``psnr-uint8-wrap`` -> our psnr-uint8-wrap; ``ssim@paper`` -> ssim under protocol
    "paper"; ``ssim@unknown`` -> ssim, any protocol; anything else -> the metric itself.
    """
    name, _, protocol = convention.partition("@")
    if quantity(name) is None:
        return metric, None
    return name, (protocol if protocol and protocol != "unknown" else None)


def _varies(values) -> bool:
    return len(set(values)) > 1


PUBLISHED_ONLY = " (published only)"


def implemented(model_key: str) -> bool:
    """Whether a published row's method is one of ours (registered, or the real-data reference row);
    LWG, PDIG and PoNA Table VI's "None" are not."""
    return bool(model_key) and (model_key in MODELS or model_key in UNRANKED)


def measured_on(ours: pd.DataFrame, datasets) -> str:
    """The caption sentence saying on what data the measured cells of a table were measured."""
    if "dataset_folder" not in ours:
        return ""
    rows = ours[ours["dataset"].isin(list(datasets))].dropna(subset=["dataset_folder"])
    if rows.empty:
        return "Nothing measured yet."
    synthetic = rows["synthetic"] if "synthetic" in rows else pd.Series(None, index=rows.index)
    synth = sorted(set(rows.loc[synthetic.fillna(False).astype(bool), "dataset_folder"]))
    real = sorted(set(rows.loc[synthetic.eq(False), "dataset_folder"]))
    unknown = sorted(set(rows.loc[synthetic.isna(), "dataset_folder"]))
    parts = []
    if synth:
        parts.append(f"Measured cells are on the embedded SYNTHETIC datasets ({', '.join(synth)}) with the profile's "
                     "training budget: they check the protocol end to end and are not reproductions of the published "
                     "numbers beside them.")
    if real:
        parts.append(f"Measured cells on the real dataset folder(s) {', '.join(real)}.")
    if unknown:
        parts.append(f"Measured on {', '.join(unknown)} (not readable here: whether synthetic is unknown).")
    return " ".join(parts)


PUBLISHED_PCKH_ESTIMATOR = ("Published PCKh: the CMU OpenPose model that produced the dataset annotations "
                            "(pose_estimator.h5, PATN tool/compute_coordinates.py; protocol.md section 7).")


def estimator_note(ours: pd.DataFrame, datasets=None, models=None) -> str:
    """The caption sentence naming the pose estimator behind each measured PCKh, per dataset; "" when none is
    measured (or the frame does not say, as hand-made frames without an ``estimator`` column)."""
    if "estimator" not in ours or "metric" not in ours:
        return ""
    rows = ours[(ours["metric"] == "pckh") & ours["value"].notna()]
    if datasets is not None:
        rows = rows[rows["dataset"].isin(list(datasets))]
    if models is not None:
        rows = rows[rows["model"].isin(list(models))]
    if rows.empty:
        return ""
    labels = rows["_row"] if "_row" in rows else rows["model"]
    by: dict[str, dict[str, list[str]]] = {}  # dataset -> estimator -> rows
    for dataset, name, label in zip(rows["dataset"], rows["estimator"], labels):
        name = name if isinstance(name, str) and name else "an estimator the record does not name"
        by.setdefault(dataset, {}).setdefault(name, []).append(label)
    parts, mixed = [], False
    for dataset, names in by.items():
        where = f" on {DATASET_LABELS.get(dataset, dataset)}" if len(by) > 1 else ""
        if len(names) == 1:
            parts.append(f"{next(iter(names))}{where}")
        else:
            mixed = True
            listed = "; ".join(f"{name} ({', '.join(dict.fromkeys(who))})" for name, who in names.items())
            parts.append(f"{listed}{where}")
    text = f"Measured PCKh: keypoints of the generated images found by {' and '.join(parts)}."
    return text + (" PCKh of different estimators are not comparable." if mixed else "")


def paper_table(published: pd.DataFrame, ours: pd.DataFrame, paper: str, table: str,
                implemented: Callable[[str], bool] = implemented) -> tuple[str, str]:
    """One published table in its own layout, each cell "measured (published)".

    ``published`` is :func:`load_published`'s frame; ``ours`` has model (matched to
    ``model_key``), dataset, metric, value, and optionally protocol and setting.
    Measured values are ranked per column on the published column's decimals.
    Rows of methods the project does not implement (``implemented``, by default the
    model registry) show the
    published number alone and say so in their label. The caption says on what data
    the measured cells were measured (:func:`measured_on`).
    """
    pub = published[(published["paper"] == paper) & (published["table"] == table)].sort_values(["row", "col"])
    if pub.empty:
        raise BenchError(f"no published numbers for {paper} {table!r}")
    if "source" in ours:
        ours = ours[ours["source"] == "ours"]
    cols, rows = sorted(set(pub["col"])), sorted(set(pub["row"]))
    by_col = {c: pub[pub["col"] == c] for c in cols}
    column_setting = all(not _varies(by_col[c]["setting"]) for c in cols) and _varies(
        [by_col[c]["setting"].iloc[0] for c in cols])

    columns, decimals, targets = [], [], []
    for c in cols:
        first = by_col[c].iloc[0]
        target = measured_as(first["metric"], first["convention"])
        label = metric_label(target[0])  # what we measure, e.g. "PSNR (uint8)"
        if column_setting:
            label += f" {first['setting']}"
        columns.append(Column(first["dataset"], label, higher_is_better(target[0])))
        decimals.append(max(len(t.partition(".")[2]) for t in by_col[c]["text"]))
        targets.append(target)

    labels, ours_rows = [], []
    for r in rows:
        first = pub[pub["row"] == r].iloc[0]
        setting = first["setting"]
        label = f"{first['model']}, {setting}" if setting and not column_setting else first["model"]
        ours_rows.append(implemented(first["model_key"]))
        labels.append(label if ours_rows[-1] else label + PUBLISHED_ONLY)

    cells: dict[tuple[int, int], Cell] = {}
    for j, c in enumerate(cols):
        values, shown, keys = [], [], []
        for r in rows:
            hit = by_col[c][by_col[c]["row"] == r]
            shown.append(hit.iloc[0]["text"] if len(hit) else NOT_REPORTED)
            key = pub[pub["row"] == r].iloc[0]
            keys.append(key["model_key"])
            setting = by_col[c].iloc[0]["setting"] if column_setting else key["setting"]
            values.append(_measured(ours, key["model_key"], columns[j].dataset, setting, *targets[j])
                          if implemented(key["model_key"]) else None)
        for i, (v, rank) in enumerate(zip(values, ranks(rankable(values, keys), decimals[j], columns[j].higher))):
            if not ours_rows[i]:
                cells[i, j] = Cell(f"({shown[i]})")
                continue
            measured = NA if v is None else fmt(v, decimals[j])
            cells[i, j] = Cell(measured, rank, f" ({shown[i]})")
    note = f"Cells: measured (published in {paper} {table}). Only measured values are ranked."
    if not all(ours_rows):
        note += f" Rows marked{PUBLISHED_ONLY} are methods this benchmark does not implement: the published number alone."
    on = measured_on(ours, dict.fromkeys(c.dataset for c in columns))
    estimators = ""
    if any(metric == "pckh" for metric, _ in targets):
        keys = [k for k in pub["model_key"] if k and implemented(k)]
        estimators = " ".join(filter(None, [estimator_note(ours, dict.fromkeys(c.dataset for c in columns), keys),
                                            PUBLISHED_PCKH_ESTIMATOR]))
    grid = Grid(columns, [("", label) for label in labels], cells, note=" ".join(filter(None, [note, on, estimators])))
    return grid_markdown(grid), latex_comment(estimators) + grid_latex(grid)


def latex_comment(text: str) -> str:
    """``text`` as LaTeX comment lines above a tabular ("" for no text): the caption sentence travels with the .tex."""
    return "".join(f"% {line}\n" for line in text.splitlines()) if text else ""


def _measured(ours: pd.DataFrame, model_key: str, dataset: str, setting: str, metric: str,
              protocol: str | None) -> float | None:
    if not model_key:
        return None
    hit = ours[(ours["model"] == model_key) & (ours["metric"] == metric)]
    if dataset != UNSPECIFIED:  # a published number whose dataset the paper does not say matches any one
        hit = hit[hit["dataset"] == dataset]
    if protocol is not None and "protocol" in hit:
        hit = hit[hit["protocol"] == protocol]
    elif "protocol" in hit and hit["protocol"].nunique() > 1:
        # A convention whose protocol the paper leaves open is compared with the pipeline's default
        # protocol when the same cell was also scored under others (e.g. `gfla` for Tang's tables).
        hit = hit[hit["protocol"] == DEFAULT_PROTOCOL]
    own = hit["setting"].fillna("") if "setting" in hit else pd.Series("", index=hit.index)
    hit = hit[own == setting]
    if len(hit) > 1:
        raise BenchError(f"more than one measured {metric} for {model_key} on {dataset}"
                         f"{f' ({setting})' if setting else ''}; filter to one protocol first")
    return None if hit.empty or pd.isna(hit["value"].iloc[0]) else float(hit["value"].iloc[0])
