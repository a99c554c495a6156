"""Two or more models side by side on one dataset, with paired bootstrap confidence intervals.

Where results come from. Each model is given as one of

* ``NAME``: its ``bench evaluate`` record is looked up under the results folder
  (default ``results/metrics``). The DVC pipeline writes one record per cell,
  ``results/metrics/<model>/<dataset>.json``; any other layout under
  ``<results>/<model>/`` works too: every ``*.json`` there is read and, of the
  records evaluated under ``--protocol``, the one for ``--dataset`` is taken: file
  stem ``<dataset>`` (or ``<dataset>-<protocol>``; ``.`` or ``_`` also) or a folder
  of that name, else the record's dataset kind (market, deepfashion). None or
  several is an error naming what was found. Only records of the default setting
  (the test pairs, the final output) match a plain NAME;
* ``NAME@SETTING`` (``msdefgan@n=3``, ``vdg@stage-1``): the record of that (model,
  setting), by the record's own ``setting``, under ``<results>/<model>/`` or
  ``<results>/settings/`` (the pipeline's ``settings`` stages); labelled ``NAME, SETTING``;
* ``PATH.json``: that record, labelled with the record's ``model``;
* ``LABEL=PATH.json``: that record under another label (two checkpoints of one model).

The per-pair scores are the CSV the record names (``per_pair_csv``, beside it).

What is reported, per metric: every model's value, the difference of each model
to the *first* one (``B - A``), and which is better by the metric's
``higher_is_better``. For per-pair metrics (SSIM, LPIPS, PSNR, ...) the difference
gets a **paired bootstrap** percentile confidence interval: test pairs are matched
by their (from, to) names, pair indices are resampled with replacement (the same
indices for both models, ``n_boot`` times), and the CI is the percentile interval of
the resampled mean differences. A model is called better only when the interval
excludes 0. Set-level metrics (IS, FID, PCKh) are one number for the whole set, not
a mean of per-pair scores; a CI would mean recomputing the metric on every resample
from features/keypoints the record does not keep, so they are shown without one.
"""
from __future__ import annotations

import csv
import hashlib
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bench.errors import BenchError, DataError
from bench.io import provenance, read_text, record_files
from bench.leaderboard import Cell, Column, Grid, arrow, fmt, grid_latex, grid_markdown, metric_decimals, ranks
from bench.leaderboard import higher_is_better as registry_direction
from bench.metrics.specs import metric_label
from bench.leaderboard import row_label
from bench.results import MetricEntry, Record
from bench.results import read_record as read_any_record
from bench.setting import Setting

Pair = tuple[str, str]
DEFAULT_RESULTS = Path("results/metrics")
SETTINGS_FOLDER = "settings"  # results/metrics/settings/<dataset>/<model>/<setting>.json (pipelines/settings.py)
#: Index-matrix elements per chunk (resamples x pairs): bounds memory to ~100 MB.
CHUNK_ELEMENTS = 1 << 22
SET_LEVEL_REASON = "set-level metric (one value for the whole set): no per-pair scores to resample"


# ----------------------------------------------------------------------------- the bootstrap


@dataclass(frozen=True)
class Interval:
    mean: float  # mean paired difference over the matched pairs
    low: float
    high: float


def paired_bootstrap(diffs: np.ndarray, n_boot: int = 10000, seed: int = 0, ci: float = 0.95,
                     chunk_elements: int = CHUNK_ELEMENTS) -> list[Interval]:
    """Percentile bootstrap CI of the mean of paired differences.

    Args:
        diffs: (N,) or (N, K) paired differences ``b - a``, one row per test pair; the K
            columns (metrics, models) share every resample, as a paired design should.
        n_boot: number of resamples B.
        seed: seeds ``numpy.random.default_rng``; the result does not depend on ``chunk_elements``.
        ci: coverage of the two-sided interval.
    Returns:
        One :class:`Interval` per column.
    """
    d = np.asarray(diffs, dtype=np.float64)
    d = d[:, None] if d.ndim == 1 else d
    n, k = d.shape
    if n == 0:
        raise BenchError("bootstrap needs at least one pair")
    if not 0 < ci < 1:
        raise BenchError(f"--ci must be between 0 and 1, got {ci}")
    if n_boot < 1:
        raise BenchError(f"--n-boot must be at least 1, got {n_boot}")
    rng = np.random.default_rng(seed)
    rows = max(1, chunk_elements // n)
    means = np.empty((n_boot, k))
    for start in range(0, n_boot, rows):
        c = min(n_boot, start + rows) - start
        index = rng.integers(0, n, size=(c, n))  # one resample per row, shared by all columns
        # How often each pair was drawn, per resample; the resampled means are then one matrix
        # product for all K columns (gathering d[index] costs K times the memory traffic).
        counts = np.bincount((index + n * np.arange(c)[:, None]).ravel(), minlength=c * n).reshape(c, n)
        means[start:start + c] = counts.astype(np.float64) @ d / n
    alpha = (1.0 - ci) / 2
    low, high = np.quantile(means, [alpha, 1.0 - alpha], axis=0)
    return [Interval(float(m), float(lo), float(hi)) for m, lo, hi in zip(d.mean(axis=0), low, high)]


# ----------------------------------------------------------------------------- finding and reading results


@dataclass
class ModelResult:
    label: str
    path: Path
    record: Record
    pairs: list[Pair] | None = None  # rows of the per-pair CSV
    scores: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def protocol(self) -> str:
        return self.record.protocol_name

    @property
    def dataset_kind(self) -> str:
        return self.record.dataset_kind

    @property
    def metrics(self) -> dict[str, MetricEntry]:
        return self.record.metrics


def read_record(path: Path) -> Record:
    return read_any_record(path, "result file")


def _matches_dataset(path: Path, base: Path, dataset: str, protocol: str) -> bool:
    stems = {dataset, *(f"{dataset}{sep}{protocol}" for sep in ".-_")}
    return path.stem in stems or dataset in path.relative_to(base).parent.parts


def _setting_records(results: Path, model: str, setting: str) -> dict[Path, Record]:
    """Records of ``model`` in ``setting`` anywhere under ``results/settings/`` (the pipeline's settings stages)."""
    folder = results / SETTINGS_FOLDER
    if not folder.is_dir():
        return {}
    records = {p: read_record(p) for p in record_files(folder)}
    return {p: r for p, r in records.items() if r.model == model and r.setting_label() == setting}


def find_result(results: Path, model: str, dataset: str, protocol: str, setting: str = "") -> Path:
    """The one record of ``model`` in ``setting`` on ``dataset`` under ``protocol``.

    The default setting is looked up in ``results/<model>/``; another setting (``n=3``,
    ``stage-1``) in ``results/<model>/`` and ``results/settings/``, by the records' own setting.
    """
    folder = results / model
    records = {p: read_record(p) for p in record_files(folder)} if folder.is_dir() else {}
    records = {p: r for p, r in records.items() if r.setting_label() == setting}
    if setting:
        records.update(_setting_records(results, model, setting))
    if not records:
        known = sorted(p.name for p in results.iterdir() if p.is_dir()) if results.is_dir() else []
        what = f"model {model!r}" + (f" in setting {setting!r}" if setting else "")
        raise DataError(folder, f"no results for {what} (folders with results: {', '.join(known) or 'none'}); "
                        "give a record path instead, e.g. LABEL=path/to/result.json")
    found = [p for p, r in records.items() if ModelResult(model, p, r).protocol == protocol]
    by_name = [p for p in found if _matches_dataset(p, p.parent if setting else folder, dataset, protocol)
               or (setting and dataset in p.parts)]
    by_kind = [p for p in found if ModelResult(model, p, records[p]).dataset_kind == dataset]
    chosen = by_name or by_kind
    if len(chosen) == 1:
        return chosen[0]
    if not chosen:
        seen = ", ".join(f"{p.relative_to(results)} ({ModelResult(model, p, r).dataset_kind}, "
                         f"{ModelResult(model, p, r).protocol})" for p, r in records.items())
        raise DataError(folder, f"no result for dataset {dataset!r} under protocol {protocol!r} "
                        f"(found: {seen or 'no JSON files'})")
    raise DataError(folder, f"{len(chosen)} results match dataset {dataset!r} under protocol {protocol!r}: "
                    f"{', '.join(str(p.relative_to(results)) for p in chosen)}; give the one you mean as LABEL=PATH")


def resolve(spec: str, results: Path, dataset: str | None, protocol: str) -> ModelResult:
    """A model argument (NAME, NAME@SETTING, PATH.json or LABEL=PATH.json) as a loaded record.

    ``NAME@SETTING`` (``msdefgan@n=3``, ``vdg@stage-1``) looks up the record of that
    (model, setting); its label is ``NAME, SETTING`` as in the leaderboard.
    """
    name, at, setting = spec.partition("@")
    if at and not spec.endswith(".json"):
        Setting.parse(setting)  # a clear error for a setting no record can have
        if dataset is None:
            raise BenchError(f"--dataset is needed to look up {spec!r} in {results}")
        path = find_result(results, name, dataset, protocol, setting)
        return ModelResult(row_label(name, setting), path, read_record(path))
    label, sep, target = spec.partition("=")
    if not sep:
        label, target = "", spec
    if target.endswith(".json"):
        path = Path(target)
        record = read_record(path)
        return ModelResult(label or record.model, path, record)
    if sep:
        raise BenchError(f"{spec!r}: the part after '=' must be a result .json file")
    if dataset is None:
        raise BenchError(f"--dataset is needed to look up model {spec!r} in {results}")
    path = find_result(results, spec, dataset, protocol)
    return ModelResult(spec, path, read_record(path))


def read_per_pair(path: Path) -> tuple[list[Pair], dict[str, np.ndarray]]:
    """A per-pair CSV (``from, to, <metric>...``) as its pairs and one score array per metric."""
    if not path.exists():
        raise DataError(path, "per-pair score file does not exist (the record names it)")
    lines = read_text(path, "per-pair score file").splitlines()
    rows = list(csv.reader(lines))
    if not rows or rows[0][:2] != ["from", "to"]:
        raise DataError(path, "per-pair CSV must start with a 'from,to,<metric>...' header", 1)
    header, pairs, values = rows[0], [], []
    seen: dict[Pair, int] = {}
    for line, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise DataError(path, f"{len(row)} fields, the header has {len(header)}", line)
        pair = (row[0], row[1])
        if pair in seen:
            raise DataError(path, f"pair {pair[0]} -> {pair[1]} appears twice (first on line {seen[pair]})", line)
        seen[pair] = line
        try:
            # An empty cell is a pair the metric left out of its mean (bench.metrics.base.EXCLUSION_RULE).
            values.append([float(v) if v != "" else math.nan for v in row[2:]])
        except ValueError:
            raise DataError(path, f"a score is not a number: {row[2:]}", line) from None
        pairs.append(pair)
    table = np.asarray(values, dtype=np.float64).reshape(len(pairs), len(header) - 2)
    if np.isinf(table).any():
        line = 2 + int(np.nonzero(np.isinf(table).any(axis=1))[0][0])
        raise DataError(path, "infinite score (an excluded pair is an empty cell)", line)
    return pairs, {name: table[:, j] for j, name in enumerate(header[2:])}


def load_scores(result: ModelResult) -> None:
    name = result.record.get("per_pair_csv")
    if name and result.pairs is None:
        path = result.path.parent / name
        expected = (result.record.get("outputs_sha256") or {}).get(name)
        if expected and path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() != expected:
            raise DataError(path, f"is not the per-pair file {result.path.name} was written with (sha256 differs): "
                                  "re-run `bench evaluate` for this record")
        result.pairs, result.scores = read_per_pair(path)


def align(base: ModelResult, other: ModelResult) -> np.ndarray:
    """Row indices of ``other``'s per-pair CSV in ``base``'s pair order; an error if the pair sets differ."""
    position = {pair: i for i, pair in enumerate(other.pairs)}
    if len(position) == len(base.pairs) and all(p in position for p in base.pairs):
        return np.array([position[p] for p in base.pairs], dtype=np.int64)
    only_base = [p for p in base.pairs if p not in position]
    known = set(base.pairs)
    only_other = [p for p in other.pairs if p not in known]
    show = lambda ps: ", ".join(f"{a}->{b}" for a, b in ps[:3]) or "-"  # noqa: E731
    raise BenchError(
        f"{base.label} and {other.label} were scored on different test pairs: {len(base.pairs)} pairs "
        f"({base.path.parent / base.record.get('per_pair_csv')}) vs {len(other.pairs)} "
        f"({other.path.parent / other.record.get('per_pair_csv')}); {len(only_base)} only in {base.label} "
        f"(e.g. {show(only_base)}), {len(only_other)} only in {other.label} (e.g. {show(only_other)}). "
        "Evaluate both on the same pairs file without --allow-missing gaps.")


# ----------------------------------------------------------------------------- the comparison


@dataclass
class Difference:
    """One model against the first one, on one metric."""
    model: str
    value: float | None  # model minus baseline (record values); None if either is unavailable
    interval: Interval | None = None
    better: str | None = None  # label of the better model; None: no direction, tie or not significant
    verdict: str = ""
    reason: str | None = None  # why there is no CI


@dataclass
class MetricComparison:
    name: str
    higher_is_better: bool | None
    per_pair: bool
    values: list[float | None]
    reasons: list[str | None]
    differences: list[Difference]


@dataclass
class Comparison:
    dataset: str
    protocol: str
    models: list[ModelResult]
    metrics: list[MetricComparison]
    n_pairs: int | None  # matched pairs the CIs are over
    n_boot: int
    seed: int
    ci: float

    @property
    def labels(self) -> list[str]:
        return [m.label for m in self.models]


def _direction(name: str, records: list[Record]) -> bool | None:
    given = [r.metrics[name].higher_is_better for r in records if name in r.metrics]
    given = [g for g in given if g is not None]
    if len(set(given)) > 1:
        raise BenchError(f"the records disagree on whether higher {name} is better")
    return bool(given[0]) if given else registry_direction(name)


def decoder_of(record: Record) -> str:
    """Pillow, libjpeg and libjpeg-turbo versions of a record (``unrecorded`` for older records)."""
    versions = (record.get("provenance") or {}).get("versions") or {}
    if "libjpeg" not in versions:
        return f"pillow {versions.get('pillow', '?')}, libjpeg unrecorded"
    return f"pillow {versions.get('pillow')}, libjpeg {versions.get('libjpeg')}, libjpeg-turbo {versions.get('libjpeg-turbo')}"


def _check_same_setting(models: list[ModelResult]) -> None:
    base = models[0]
    for other in models[1:]:
        for what, a, b in (("dataset", base.dataset_kind, other.dataset_kind), ("protocol", base.protocol, other.protocol)):
            if a != b:
                raise BenchError(f"{base.label} ({base.path}) and {other.label} ({other.path}) differ in {what}: "
                                 f"{a} vs {b}; compare results of one {what}")
    decoders = {m.label: decoder_of(m.record) for m in models}
    if len(set(decoders.values())) > 1:
        print("warning: the records were decoded by different JPEG decoders ("
              + "; ".join(f"{label}: {d}" for label, d in decoders.items())
              + "); JPEG targets decode differently, so small differences may be the decoder's", file=sys.stderr)
    labels = [m.label for m in models]
    if len(set(labels)) != len(labels):
        raise BenchError(f"two results share a label ({', '.join(labels)}); name them LABEL=PATH.json")


def _verdict(diff: float, higher: bool | None, base: str, other: str, interval: Interval | None) -> tuple[str | None, str]:
    if higher is None:
        return None, "no direction"
    if interval is not None and interval.low <= 0 <= interval.high:
        return None, "CI includes 0"
    if diff == 0:
        return None, "tie"
    better = other if (diff > 0) == higher else base
    return better, f"{better} better" + ("" if interval is not None else " (no CI)")


def _ci_columns(models: list[ModelResult], names: list[str]) -> tuple[list[tuple[str, int]], np.ndarray | None]:
    """(metric, model index) series with per-pair scores in every record, and their paired differences."""
    series, columns = [], []
    base = models[0]
    orders = [align(base, m) if m.pairs is not None and base.pairs is not None else None for m in models]
    for name in names:
        for i, other in enumerate(models[1:], start=1):
            if orders[i] is None or name not in base.scores or name not in other.scores:
                continue
            series.append((name, i))
            columns.append(other.scores[name][orders[i]] - base.scores[name])
    return series, (np.stack(columns, axis=1) if columns else None)


def bootstrap_series(series: list[tuple[str, int]], diffs: np.ndarray | None, n_boot: int, seed: int,
                     ci: float) -> dict[tuple[str, int], Interval]:
    """Paired intervals of every series: the complete columns share their resamples; a column with
    excluded pairs (nan: undefined in either record) is resampled alone over the pairs both scored."""
    if diffs is None:
        return {}
    complete = np.isfinite(diffs).all(axis=0)
    intervals = {}
    if complete.any():
        joint = paired_bootstrap(diffs[:, complete], n_boot, seed, ci)
        intervals.update(zip([s for s, c in zip(series, complete) if c], joint))
    for j in np.nonzero(~complete)[0]:
        column = diffs[:, j][np.isfinite(diffs[:, j])]
        if len(column):
            intervals[series[j]] = paired_bootstrap(column, n_boot, seed, ci)[0]
    return intervals


def compare(models: list[ModelResult], dataset: str | None = None, n_boot: int = 10000, seed: int = 0,
            ci: float = 0.95) -> Comparison:
    """Values, differences to ``models[0]`` and paired bootstrap CIs of every metric in the records."""
    if len(models) < 2:
        raise BenchError("compare needs at least two models")
    _check_same_setting(models)
    for m in models:
        load_scores(m)
    names = list(dict.fromkeys(name for m in models for name in m.metrics))
    series, diffs = _ci_columns(models, names)
    intervals = bootstrap_series(series, diffs, n_boot, seed, ci)
    base = models[0]
    rows = []
    for name in names:
        records = [m.metrics.get(name) for m in models]
        values = [None if r is None or r.value is None else float(r.value) for r in records]
        reasons = [("not in this record" if r is None else r.reason) if v is None else None
                   for r, v in zip(records, values)]
        higher = _direction(name, [m.record for m in models])
        per_pair = any(r.per_pair for r in records if r is not None)
        rows.append(MetricComparison(name, higher, per_pair, values, reasons,
                                     [_difference(name, i, models, values, higher, per_pair, intervals)
                                      for i in range(1, len(models))]))
    return Comparison(dataset or base.dataset_kind, base.protocol, models, rows,
                      len(base.pairs) if series else None, n_boot, seed, ci)


def _difference(name: str, i: int, models: list[ModelResult], values: list[float | None], higher: bool | None,
                per_pair: bool, intervals: dict[tuple[str, int], Interval]) -> Difference:
    label, base = models[i].label, models[0].label
    if values[0] is None or values[i] is None:
        return Difference(label, None, verdict="n/a", reason="value unavailable")
    diff = values[i] - values[0]
    interval = intervals.get((name, i))
    reason = None
    if interval is None:
        reason = "per-pair scores missing from a per-pair CSV" if per_pair else SET_LEVEL_REASON
    better, verdict = _verdict(diff if interval is None else interval.mean, higher, base, label, interval)
    return Difference(label, diff, interval, better, verdict, reason)


# ----------------------------------------------------------------------------- output


def _diff_text(value: float | None, decimals: int) -> str:
    return "n/a" if value is None else f"{value:+.{decimals}f}"


def _ci_text(d: Difference, decimals: int) -> str:
    if d.interval is None:
        return "–"
    return f"[{d.interval.low:+.{decimals}f}, {d.interval.high:+.{decimals}f}]"


def table_rows(comparison: Comparison, minus: str = "−") -> tuple[list[str], list[list[tuple[str, int | None]]]]:
    """Header and rows of (text, rank) cells shared by every output format; rank 1 = best value of the row."""
    labels = comparison.labels
    pct = f"{100 * comparison.ci:g}%"
    header = ["Metric", *labels]
    for other in labels[1:]:
        header += [f"{other} {minus} {labels[0]}", f"{pct} CI", "Verdict"]
    rows = []
    for m in comparison.metrics:
        decimals = metric_decimals(m.name, None)
        cells = [(metric_label(m.name) + arrow(m.higher_is_better), None)]
        for value, rank in zip(m.values, ranks(m.values, decimals, m.higher_is_better)):
            cells.append(("n/a" if value is None else fmt(value, decimals), 1 if rank == 1 else None))
        for d in m.differences:  # one more decimal: the differences are small by nature
            cells += [(_diff_text(d.value, decimals + 1), None), (_ci_text(d, decimals + 1), None), (d.verdict, None)]
        rows.append(cells)
    return header, rows


def note(comparison: Comparison) -> str:
    c = comparison
    text = (f"{c.dataset}, protocol {c.protocol}. Differences are to {c.labels[0]}. "
            f"CI: paired percentile bootstrap of the mean per-pair difference over {c.n_pairs} matched test pairs, "
            f"{c.n_boot} resamples, seed {c.seed}; a model is called better only if the CI excludes 0."
            if c.n_pairs else f"{c.dataset}, protocol {c.protocol}. Differences are to {c.labels[0]}. "
            "No per-pair scores: no CIs.")
    set_level = [metric_label(m.name) for m in c.metrics if not m.per_pair]
    if set_level:
        text += (f" Set-level metrics ({', '.join(set_level)}) are one number for the whole set, not a mean of"
                 " per-pair scores, so they have no CI here.")
    return text


def _grid(comparison: Comparison, latex: bool) -> Grid:
    header, rows = table_rows(comparison, minus="-" if latex else "−")
    columns = [Column(comparison.dataset, h, None) for h in header[1:]]
    cells = {(i, j): Cell(text, rank) for i, row in enumerate(rows) for j, (text, rank) in enumerate(row[1:])}
    return Grid(columns, [("", row[0][0]) for row in rows], cells, note=note(comparison))


def to_markdown(comparison: Comparison) -> str:
    return grid_markdown(_grid(comparison, latex=False), corner="Metric")


def to_latex(comparison: Comparison) -> str:
    grid = _grid(comparison, latex=True)
    text = grid_latex(grid).replace("↑", r"$\uparrow$").replace("↓", r"$\downarrow$").replace("–", "--")
    return text + "% " + grid.note + "\n"


def to_json(comparison: Comparison) -> dict[str, Any]:
    c = comparison
    metrics = {}
    for m in c.metrics:
        metrics[m.name] = {
            "higher_is_better": m.higher_is_better,
            "per_pair": m.per_pair,
            "values": dict(zip(c.labels, m.values)),
            "reasons": {label: r for label, r in zip(c.labels, m.reasons) if r},
            "differences": [{
                "model": d.model, "baseline": c.labels[0], "difference": d.value,
                "mean_paired_difference": d.interval.mean if d.interval else None,
                "ci": [d.interval.low, d.interval.high] if d.interval else None,
                "better": d.better, "verdict": d.verdict, "no_ci_reason": d.reason,
            } for d in m.differences],
        }
    return {
        "dataset": c.dataset,
        "protocol": c.protocol,
        "models": [{"label": m.label, "model": m.record.model, "file": str(m.path)} for m in c.models],
        "bootstrap": {"method": "paired percentile bootstrap of the mean difference", "pairs": c.n_pairs,
                      "n_boot": c.n_boot, "seed": c.seed, "ci": c.ci},
        "metrics": metrics,
        "provenance": provenance(seed=c.seed, protocol=c.protocol),
    }


def rich_table(comparison: Comparison):
    """The comparison as a rich Table, one row per (metric, model) so it stays narrow for any number of
    models: best value of a metric bold, verdicts green when the model beats the baseline, red when not."""
    from rich.table import Table
    from rich.text import Text

    c, base = comparison, comparison.labels[0]
    table = Table(title=f"{c.dataset} · protocol {c.protocol}", caption=note(c), caption_justify="left")
    for name, justify in (("Metric", "left"), ("Model", "left"), ("Value", "right"), (f"Δ vs {base}", "right"),
                          (f"{100 * c.ci:g}% CI", "right"), ("Verdict", "left")):
        table.add_column(name, justify=justify, no_wrap=name != "Verdict")
    for m in c.metrics:
        decimals = metric_decimals(m.name, None)
        rank = ranks(m.values, decimals, m.higher_is_better)
        differences = [None, *m.differences]
        for i, (label, value, d) in enumerate(zip(c.labels, m.values, differences)):
            value_text = Text("n/a" if value is None else fmt(value, decimals), style="bold" if rank[i] == 1 else "")
            cells = [Text(metric_label(m.name) + arrow(m.higher_is_better) if i == 0 else ""), Text(label), value_text]
            if d is None:
                cells += [Text(""), Text(""), Text("baseline" if i == 0 else "")]
            else:
                colour = None if d.better is None else ("red" if d.better == base else "green")
                cells += [Text(_diff_text(d.value, decimals + 1)), Text(_ci_text(d, decimals + 1)),
                          Text(d.verdict, style=colour or "")]
            table.add_row(*cells, end_section=i == len(c.labels) - 1)
    return table
