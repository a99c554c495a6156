"""Score a folder of generated images against a dataset's test pairs.

One run = one (model, dataset, protocol) cell: discover the generated file of every
test pair -> load generated images, targets and target keypoints -> build
:class:`EvalInputs` -> run the requested metrics -> assemble one JSON record (plus a
CSV of per-pair scores for paired statistics, and a flat ``.scores.json`` for
``dvc metrics``) -> write them atomically.
Nothing is written unless every step succeeds.

Generated folders come in three layouts (detected by which one names the most test
pairs, or forced with ``fmt``):

* ``single``: one image per pair, ``{from}___{to}.png`` (or ``.jpg``), the project's format;
* ``patn``: PATN/PoNA 5-panel composites ``{from}___{to}_vis.jpg`` (source, source pose,
  target, target pose, generated); the 5th panel is taken, width/5 each, as in
  PATN tool/getMetrics_market.py. The *dataset* target is the reference, not the
  composite's (JPEG re-encoded) 3rd panel;
* ``gfla``: GFLA's ``{from_stem}_2_{to_stem}_vis.jpg`` single images (model/pose_model.py);
* a name ``pattern`` (``bench evaluate --pattern``) for any other release: ``{from}``/``{to}`` are
  the pair's file names, ``{from_stem}``/``{to_stem}`` the same without the extension, e.g.
  ``{from_stem}_2_{to_stem}_vis.png`` (NTED); with ``panel`` i/n the file is a horizontal strip
  of n frames and the i-th is scored (CASD with its distance maps: 7/7). README lists the
  pattern of each method whose code says how it names its outputs.

Multi-source (``sources`` n >= 1, ``bench evaluate --sources n``): the "pairs" are the
n-source test tuples of ``bench.data.multisource.tuple_file`` (the smallest prepared
K >= n), one per tuple as its pair key ``(from_key, to)``; images must be in the
``single`` layout (``bench generate --sources n``). Metrics see ``to`` as the target
exactly as for pairs; the record adds ``sources`` and ``tuples_file``.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bench.data.annotations import read_annotations, read_pairs
from bench.data.layout import DatasetLayout
from bench.data.naming import pair_image_name, pair_stem
from bench.errors import BenchError, DataError
from bench.io import (PER_PAIR, RECORD, SCORES, SCORES_SUFFIX, atomic_write_json, atomic_write_text, check_replaceable,
                      device_name, provenance)
from bench.metrics.base import EXCLUSION_RULE, EvalInputs, MetricResult
from bench.metrics.geometry import Geometry, check_frame, conform, geometry_of, resize_images, scale_keypoints
from bench.metrics.protocol import Protocol, check_protocol, get_protocol
from bench.registry import METRICS, Entry
from bench.results import SCHEMA_VERSION, MetricEntry, Record, write_record
from bench.setting import Setting

FORMATS = ("single", "patn", "gfla")
PATTERN = "pattern"  # the format of a folder named by --pattern
PATTERN_FIELDS = ("from", "to", "from_stem", "to_stem")
COMPOSITE_PANELS, GENERATED_PANEL = 5, 4
Pair = tuple[str, str]


@dataclass(frozen=True)
class EvalConfig:
    generated_dir: Path
    dataset: Path
    out: Path
    pairs_dir: Path | None = None
    metrics: tuple[str, ...] | None = None  # None: every registered metric
    protocol: str = "paper"
    estimator: str | None = None  # csv:PATH | heatmap:PATH | rtmpose[:PATH] | none
    weights_dir: Path | None = None
    cache_dir: Path | None = None
    allow_missing: bool = False
    real_data: bool = False
    device: str = "cpu"
    format: str = "auto"
    pattern: str | None = None  # file names of another release, e.g. "{from_stem}_2_{to_stem}_vis.png"
    panel: str | None = None  # "i/n": score panel i of n side by side in each file (needs ``pattern``)
    model: str | None = None  # label in the record; default: the generated folder's name
    progress: bool = True
    sources: int = 0  # 0: the test pairs; n >= 1: the n-source test tuples
    stage: int = 0  # 0: the model's final output; s >= 1: images of stage s (bench generate --stage s)


generated_name = pair_image_name  # the project's file name for the image generated for a pair


def _stem(name: str) -> str:
    return name.rsplit(".", 1)[0] if "." in name else name


def check_pattern(pattern: str) -> str:
    """A ``--pattern``: only the fields {from}, {to}, {from_stem}, {to_stem}, one naming each side, no folders."""
    import string

    try:
        parsed = [(field, spec, conv) for _, field, spec, conv in string.Formatter().parse(pattern) if field is not None]
    except ValueError as err:
        raise BenchError(f"--pattern {pattern!r}: {err} (write a literal brace as {{{{ or }}}})") from None
    fields = [field for field, _, _ in parsed]
    unknown = sorted({f for f in fields if f not in PATTERN_FIELDS})
    if unknown or any(spec or conv for _, spec, conv in parsed):
        raise BenchError(f"--pattern {pattern!r}: unknown field(s) {', '.join(repr(f) for f in unknown) or 'with a format spec'}; "
                         f"use {', '.join('{' + f + '}' for f in PATTERN_FIELDS)}")
    if not {"from", "from_stem"} & set(fields) or not {"to", "to_stem"} & set(fields):
        raise BenchError(f"--pattern {pattern!r} must name both images of a pair ({{from}} or {{from_stem}}, "
                         "and {to} or {to_stem})")
    if "/" in pattern or "\\" in pattern:
        raise BenchError(f"--pattern {pattern!r}: a file name in the generated folder, not a path")
    return pattern


def parse_panel(panel: str | None) -> tuple[int, int]:
    """``"i/n"`` -> (i, n), 1 <= i <= n; None -> (1, 1), the whole image."""
    if panel is None:
        return 1, 1
    i, sep, n = panel.partition("/")
    if not sep or not i.strip().isdigit() or not n.strip().isdigit() or not 1 <= int(i) <= int(n):
        raise BenchError(f"--panel {panel!r}: expected i/n with 1 <= i <= n, e.g. 5/5 for the last of five panels")
    return int(i), int(n)


def pattern_name(pair: Pair, pattern: str) -> str:
    a, b = pair
    return pattern.format(**{"from": a, "to": b, "from_stem": _stem(a), "to_stem": _stem(b)})


def candidate_names(pair: Pair, fmt: str, pattern: str | None = None) -> list[str]:
    a, b = pair
    if fmt == PATTERN:
        return [pattern_name(pair, pattern)]
    if fmt == "single":
        return [pair_image_name(a, b), pair_image_name(a, b, ".jpg")]
    if fmt == "patn":
        return [pair_image_name(a, b, "_vis.jpg"), pair_image_name(a, b, "_vis.png")]
    return [f"{_stem(a)}_2_{_stem(b)}_vis.jpg", f"{_stem(a)}_2_{_stem(b)}_vis.png"]


# ----------------------------------------------------------------------------- discover


@dataclass
class Discovery:
    format: str
    files: dict[int, Path]  # pair index -> generated file
    missing: list[Pair]
    unmatched: int  # files in the folder that belong to no test pair
    pattern: str | None = None  # the --pattern the files were found by (format "pattern")


def match_files(present: set[str], pairs: list[Pair], fmt: str, pattern: str | None = None) -> dict[int, str]:
    found = {}
    for i, pair in enumerate(pairs):
        name = next((n for n in candidate_names(pair, fmt, pattern) if n in present), None)
        if name is not None:
            found[i] = name
    return found


def check_distinct(pairs: list[Pair], pattern: str) -> None:
    """Two test pairs may not share a file name under ``pattern`` (one image would be scored twice)."""
    seen: dict[str, Pair] = {}
    for pair in pairs:
        name = pattern_name(pair, pattern)
        if name in seen:
            raise BenchError(f"--pattern {pattern!r} gives the same file name {name!r} to the pairs "
                             f"{seen[name][0]} -> {seen[name][1]} and {pair[0]} -> {pair[1]}")
        seen[name] = pair


def discover(generated_dir: Path, pairs: list[Pair], fmt: str = "auto", pattern: str | None = None) -> Discovery:
    """Find the generated file of every pair; the format is the one that names the most pairs
    (or the one ``pattern`` gives: format "pattern")."""
    if not generated_dir.is_dir():
        raise DataError(generated_dir, "generated-images folder does not exist")
    present = {p.name for p in generated_dir.iterdir() if p.is_file()}
    if pattern is not None:
        if fmt not in ("auto", PATTERN):
            raise BenchError(f"--pattern names the files itself; drop --format {fmt} (or use --format {PATTERN})")
        check_distinct(pairs, check_pattern(pattern))
        fmt = PATTERN
    elif fmt not in (*FORMATS, "auto"):
        raise BenchError(f"unknown --format {fmt!r}; valid: auto, {', '.join(FORMATS)}, or --pattern")
    candidates = FORMATS if fmt == "auto" else (fmt,)
    matches = {f: match_files(present, pairs, f, pattern) for f in candidates}
    best = max(candidates, key=lambda f: len(matches[f]))
    found = matches[best]
    if not found:
        example = ", ".join(candidate_names(pairs[0], f, pattern)[0] for f in candidates) if pairs else "-"
        raise DataError(generated_dir, f"no generated image for any of the {len(pairs)} test pairs (expected names like {example})")
    missing = [p for i, p in enumerate(pairs) if i not in found]
    unmatched = len(present) - len(set(found.values()))
    return Discovery(best, {i: generated_dir / n for i, n in found.items()}, missing, unmatched, pattern)


def check_coverage(discovery: Discovery, generated_dir: Path, allow_missing: bool) -> None:
    if discovery.missing and not allow_missing:
        first = ", ".join(candidate_names(p, discovery.format, discovery.pattern)[0] if discovery.format != "single"
                          else generated_name(*p) for p in discovery.missing[:3])
        raise DataError(
            generated_dir,
            f"generated images missing for {len(discovery.missing)} of {len(discovery.missing) + len(discovery.files)} "
            f"test pairs (first: {first}); pass --allow-missing to score the rest and record the coverage",
        )


# ----------------------------------------------------------------------------- load


def _progress(items: list, desc: str, enabled: bool):
    if not enabled:
        return items
    from tqdm import tqdm

    return tqdm(items, desc=desc, unit="img", file=sys.stderr, dynamic_ncols=True, leave=False)


def composite_panel(image: np.ndarray, size: tuple[int, int], path: Path, index: int = GENERATED_PANEL,
                    panels: int = COMPOSITE_PANELS) -> np.ndarray:
    """Panel ``index`` (0-based) of a horizontal composite of ``panels`` images of ``size``."""
    h, w = size
    if image.shape[:2] != (h, panels * w):
        expected = f"{panels}x{w}={panels * w}x{h}"
        raise DataError(path, f"composite is {image.shape[1]}x{image.shape[0]} (WxH), expected {expected} "
                              f"({panels} panels of the dataset's {w}x{h} frame)")
    return image[:, index * w : (index + 1) * w]


def decode_all(paths: list[Path], decode, size: tuple[int, int], desc: str, progress: bool) -> np.ndarray:
    """(N, H, W, 3) uint8 of ``decode(path)`` for every path, decoded once each, by a few threads
    (Pillow's decoders release the GIL); the first bad file raises, naming itself."""
    out = np.empty((len(paths), *size, 3), dtype=np.uint8)

    def one(i: int) -> None:
        out[i] = decode(paths[i])

    with ThreadPoolExecutor(min(4, os.cpu_count() or 1)) as pool:
        for _ in _progress(pool.map(one, range(len(paths))), desc, progress):
            pass  # in order: the first failure (lowest index) is raised
    return out


def load_generated(paths: list[Path], fmt: str, size: tuple[int, int], progress: bool,
                   panel: tuple[int, int] = (1, 1), geometry: Geometry | None = None) -> np.ndarray:
    """The generated frames (the whole file, PATN's 5th panel, or panel ``(i, n)`` of a --pattern strip) in
    the geometry's scored size: as stored when they have it, else resized from the dataset frame ``size``
    (GFLA's 256x256 resize); any other size is an error naming the file."""
    from bench.data.images import load_image

    index, panels = (GENERATED_PANEL + 1, COMPOSITE_PANELS) if fmt == "patn" else panel
    scored = geometry.size if geometry is not None else size

    def decode(path: Path) -> np.ndarray:
        image = load_image(path, None)
        if panels > 1:  # a strip of dataset-frame panels, or of scored-size ones (GFLA's 256x256 results)
            strip = scored if image.shape[:2] == (scored[0], panels * scored[1]) else size
            image = composite_panel(image, strip, path, index - 1, panels)
        out = conform(image, geometry) if geometry is not None else (image if image.shape[:2] == tuple(size) else None)
        if out is None:
            h, w = image.shape[:2]
            sizes = " or ".join(dict.fromkeys(f"{a}x{b}" for a, b in (size, scored)))
            raise DataError(path, f"wrong image size: expected {sizes} (HxW), got {h}x{w}")
        return out

    return decode_all(paths, decode, scored, "generated", progress)


def load_targets(layout: DatasetLayout, names: list[str], progress: bool) -> np.ndarray:
    from bench.data.images import load_image

    folder, size = layout.images("test"), layout.kind.image_size
    return decode_all([folder / name for name in names], lambda path: load_image(path, size), size, "targets", progress)


def target_keypoints(layout: DatasetLayout, names: list[str]) -> np.ndarray:
    path = layout.annotations("test")
    annotations = read_annotations(path, image_size=layout.kind.image_size)
    absent = [n for n in names if n not in annotations]
    if absent:
        raise DataError(path, f"no keypoints for {len(absent)} test targets (first: {', '.join(absent[:3])})")
    return np.stack([annotations[n] for n in names]) if names else np.zeros((0, 18, 2), np.int64)


# ----------------------------------------------------------------------------- inputs and metrics


def select_metrics(names: tuple[str, ...] | None) -> list[Entry]:
    """Registry entries of the requested metrics (all by default); unknown names raise UnknownNameError."""
    if names is None:
        return list(METRICS)
    return [METRICS.get(n) for n in dict.fromkeys(names)]


def build_inputs(config: EvalConfig, layout: DatasetLayout, pairs: list[Pair], generated: np.ndarray, estimator: Any,
                 geometry: Geometry | None = None) -> EvalInputs:
    """Targets and their keypoints in the geometry's scored size (resized from the dataset frame for ``gfla``)."""
    targets_names = [b for _, b in pairs]
    frame = layout.kind.image_size
    scored = geometry.size if geometry is not None else frame
    targets = resize_images(load_targets(layout, targets_names, config.progress), scored)
    if config.real_data:  # PoNA Table I "Real Data": the targets scored against themselves
        generated = targets
    names = targets_names if config.real_data else [pair_stem(a, b) for a, b in pairs]
    keypoints = scale_keypoints(target_keypoints(layout, targets_names), frame, scored)
    return EvalInputs(generated, targets, keypoints, pairs, layout, config.device,
                      weights_dir=config.weights_dir, cache_dir=config.cache_dir or None, progress=config.progress,
                      pose_estimator=estimator, pose_names=names)


def check_result(name: str, result: MetricResult, n: int) -> None:
    """A metric must give a finite value (or None with a reason) and one finite score per pair."""
    if result.value is None:
        if not result.reason:
            raise BenchError(f"metric {name!r} returned no value and no reason")
        return
    if not math.isfinite(result.value):
        raise BenchError(f"metric {name!r} returned a non-finite value ({result.value}); nothing was written")
    if result.per_pair is not None:
        scores = np.asarray(result.per_pair)
        if scores.shape != (n,):
            raise BenchError(f"metric {name!r} returned {scores.shape} per-pair scores for {n} pairs")
        if np.isneginf(scores).any():
            raise BenchError(f"metric {name!r} returned -inf per-pair scores; nothing was written")


def exclusions(result: MetricResult, pairs: list[Pair], shown: int = 5) -> dict[str, Any] | None:
    """The pairs :data:`EXCLUSION_RULE` leaves out of ``result``'s mean, counted and named, or None."""
    if result.per_pair is None:
        return None
    scores = np.asarray(result.per_pair, dtype=np.float64)
    bad = np.nonzero(~np.isfinite(scores))[0]
    if not len(bad):
        return None
    with np.errstate(invalid="ignore"):
        authors = float(scores.mean())
    return {"count": int(len(bad)), "rule": EXCLUSION_RULE, "authors_script_value": repr(authors),
            "pairs": [f"{pairs[i][0]} -> {pairs[i][1]} ({repr(float(scores[i]))})" for i in bad[:shown]]}


def infinite_on_real_data(result: MetricResult) -> MetricResult:
    """On the real-data row PSNR of an image with itself is +inf: recorded as n/a, not an error."""
    scores = [] if result.per_pair is None else np.asarray(result.per_pair)
    if (result.value is not None and math.isinf(result.value)) or np.isinf(scores).any():
        return MetricResult.unavailable("infinite on the real-data row (targets compared with themselves)", **result.details)
    return result


def run_metrics(entries: list[Entry], inputs: EvalInputs, protocol: Protocol, real_data: bool = False) -> dict[str, MetricResult]:
    results = {}
    for entry in entries:
        print(f"[{len(results) + 1}/{len(entries)}] {entry.name} ...", file=sys.stderr, flush=True)
        started = time.perf_counter()
        result = entry.constructor(inputs, protocol)
        print(f"  {entry.name}: {time.perf_counter() - started:.2f} s", file=sys.stderr, flush=True)
        if real_data:
            result = infinite_on_real_data(result)
        check_result(entry.name, result, len(inputs))
        excluded = exclusions(result, inputs.pairs)
        if excluded:
            result.details["excluded_pairs"] = excluded
            print(f"  {entry.name}: {excluded['count']} pair(s) left out of the mean, e.g. {excluded['pairs'][0]}",
                  file=sys.stderr, flush=True)
        results[entry.name] = result
    return results


# ----------------------------------------------------------------------------- record


def jsonable(obj: Any) -> Any:
    """numpy scalars/arrays, paths and tuples as JSON; non-finite floats in details as null."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return jsonable(obj.item())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, Path):
        return str(obj)
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    return str(obj)


def metric_record(entry: Entry, result: MetricResult) -> MetricEntry:
    spec = entry.meta
    return MetricEntry(value=result.value, reason=result.reason, higher_is_better=spec.higher_is_better,
                       per_pair=spec.per_pair, version=spec.version, paper=spec.paper, details=jsonable(result.details))


def sha256_prefix(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def assemble_record(config: EvalConfig, layout: DatasetLayout, protocol: Protocol, pairs_file: Path, n_pairs: int,
                    discovery: Discovery | None, entries: list[Entry], results: dict[str, MetricResult], estimator: Any) -> dict[str, Any]:
    evaluated = len(discovery.files) if discovery else n_pairs
    return {
        "record_version": SCHEMA_VERSION,
        "model": "real-data" if config.real_data else (config.model or config.generated_dir.resolve().name),
        "real_data": config.real_data,
        "dataset": {"root": str(layout.root.resolve()), "kind": layout.kind.name, "image_size": list(layout.kind.image_size),
                    "pairs_file": str(pairs_file.resolve()), "pairs_sha256": sha256_prefix(pairs_file),
                    "annotations_sha256": sha256_prefix(layout.annotations("test"))},
        "generated": None if discovery is None else {"dir": str(config.generated_dir.resolve()), "format": discovery.format,
                                                     "unmatched_files": discovery.unmatched,
                                                     **({"pattern": discovery.pattern, "panel": config.panel or "1/1"}
                                                        if discovery.pattern else {})},
        "protocol": protocol.to_dict(),
        "geometry": geometry_record(layout, protocol),
        "pairs": {"expected": n_pairs, "evaluated": evaluated, "missing": n_pairs - evaluated,
                  "coverage": evaluated / n_pairs if n_pairs else 0.0},
        "estimator": getattr(estimator, "name", None),
        "metrics": {e.name: metric_record(e, results[e.name]).to_dict() for e in entries},
        "per_pair_csv": per_pair_path(config.out).name if per_pair_columns(results) else None,
        "provenance": jsonable(provenance(device=config.device, device_name=device_name(config.device), protocol=protocol.name)),
    }


def geometry_record(layout: DatasetLayout, protocol: Protocol) -> dict[str, Any]:
    """Which frame the images were scored in and which metrics padded them (bench/metrics/geometry.py)."""
    geometry = geometry_of(layout.kind.name, protocol.fashion_geometry)
    return {"name": geometry.name, "frame": list(geometry.frame), "scored": list(geometry.size),
            "padded_metrics": sorted(geometry.padded), "pad_per_side": geometry.pad(next(iter(geometry.padded), "")),
            "source": geometry.source}


def per_pair_columns(results: dict[str, MetricResult]) -> list[str]:
    return [name for name, r in results.items() if r.per_pair is not None]


def per_pair_path(out: Path) -> Path:
    return out.with_name(f"{out.stem}.per-pair.csv")


def per_pair_csv(pairs: list[Pair], results: dict[str, MetricResult]) -> str:
    columns = per_pair_columns(results)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["from", "to", *columns])
    for i, (a, b) in enumerate(pairs):
        # An excluded (non-finite) score is an empty cell: "not scored", which every CSV reader accepts.
        writer.writerow([a, b, *(_cell(float(results[c].per_pair[i])) for c in columns)])
    return buffer.getvalue()


def _cell(score: float) -> str:
    return repr(score) if math.isfinite(score) else ""


def scores_path(out: Path) -> Path:
    return out.with_name(f"{out.stem}{SCORES_SUFFIX}")


def scores(results: dict[str, MetricResult]) -> dict[str, float]:
    """``{metric: value}`` for every available metric, nothing else: the flat file DVC
    tracks as metrics (``dvc metrics show``), while the record keeps the reasons,
    versions and provenance."""
    return {name: float(r.value) for name, r in sorted(results.items()) if r.value is not None}


def check_out(out: Path) -> None:
    """Before any work: the record is a ``.json`` file, and none of the three outputs would replace
    anything but an earlier output of its own kind (a folder, the user's JSON or CSV)."""
    if out.suffix != ".json":
        raise BenchError(f"{out}: --out is the result record and must end in .json")
    for path, kind in output_kinds(out):
        check_replaceable(path, as_dir=False, kind=kind)


def output_kinds(out: Path) -> list[tuple[Path, str]]:
    return [(out, RECORD), (per_pair_path(out), PER_PAIR), (scores_path(out), SCORES)]


def output_digests(out: Path) -> dict[str, str]:
    """sha256 of the per-pair CSV and the scores file beside ``out``: the record, written last, lists them,
    so a reader can tell a consistent set from one whose companions were replaced later."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (per_pair_path(out), scores_path(out)) if p.exists()}


def write_outputs(out: Path, record: dict[str, Any], pairs: list[Pair], results: dict[str, MetricResult]) -> Record:
    """The per-pair CSV and the scores first, then the record listing their digests: a record on disk
    means the others are complete, and `bench compare` checks they are the ones it was written with."""
    stale = per_pair_path(out)
    if per_pair_columns(results):
        atomic_write_text(stale, per_pair_csv(pairs, results), PER_PAIR)
    elif stale.exists():
        check_replaceable(stale, as_dir=False, kind=PER_PAIR)
        stale.unlink()  # a CSV from an earlier run would not belong to this record
    atomic_write_json(scores_path(out), scores(results), SCORES)
    return write_record(out, {**record, "outputs_sha256": output_digests(out)})


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def format_table(record: Record) -> str:
    """A short plain-text table for stdout; unavailable metrics show n/a and why."""
    pairs = record.get("pairs")
    geometry = record.get("geometry") or {}
    shown = f" ({geometry['name']} geometry, {geometry['scored'][0]}x{geometry['scored'][1]})" if geometry.get("name") not in (None, "market") else ""
    head = (f"model {record.model} | dataset {record.dataset_kind}{shown} | protocol {record.protocol_name} | "
            f"pairs {pairs['evaluated']}/{pairs['expected']} ({100 * pairs['coverage']:.1f}%)")
    if record.get("sources"):
        head += f" | {record.get('sources')} source(s) per target"
    width = max([len("metric"), *map(len, record.metrics)])
    rows = [head, f"{'metric':<{width}} {'':<2} {'value':>10}"]
    for name, m in record.metrics.items():
        arrow = "↑" if m.higher_is_better else "↓"
        value = f"{m.value:>10.4f}" if m.value is not None else f"{'n/a':>10}  ({_short(m.reason)})"
        rows.append(f"{name:<{width}} {arrow:<2} {value}")
    if record.get("estimator"):
        rows.append(f"pose estimator: {record.get('estimator')}")
    return "\n".join(rows)


# ----------------------------------------------------------------------------- the whole run


def scored_pairs(layout: DatasetLayout, sources: int) -> tuple[Path, list[Pair]]:
    """The file listing what is scored and its pairs: the test pairs, or the pair keys of the n-source tuples."""
    if not sources:
        path = layout.pairs("test")
        return path, read_pairs(path)
    from bench.data.multisource import pair_keys, tuple_file
    from bench.data.splits import read_tuples

    path = tuple_file(layout, "test", sources)
    return path, pair_keys(read_tuples(path, sources), path)


def check_generation_setting(generated_dir: Path, sources: int, stage: int = 0) -> None:
    """A folder from ``bench generate`` records its sources and stage: they must be the ones evaluated."""
    manifest = generated_dir / "generation.json"
    if not manifest.is_file():
        return
    try:
        info = json.loads(manifest.read_text())
        recorded = {"sources": info.get("sources"), "stage": info.get("stage")}
    except (ValueError, AttributeError):
        return  # not ours to judge: discovery still checks every file
    for key, given in (("sources", sources), ("stage", stage)):
        if recorded[key] is not None and recorded[key] != given:
            raise DataError(manifest, f"images were generated with {key}={recorded[key]} but are evaluated with "
                                      f"--{key} {given}; pass --{key} {recorded[key]}")


@dataclass
class Evaluation:
    record: Record
    results: dict[str, MetricResult] = field(default_factory=dict)


def evaluate(config: EvalConfig) -> Evaluation:
    """Score ``config.generated_dir`` on the dataset's test pairs and write the record."""
    from bench.pose_estimator import load_estimator

    from bench.train.distributed import resolve_device

    entries = select_metrics(config.metrics)  # fail on a bad metric name before any work
    check_out(config.out)
    resolve_device(config.device)  # cuda on a machine without it: an error, not a record saying "cuda"
    protocol = get_protocol(config.protocol)
    check_protocol(protocol)
    layout = DatasetLayout.open(config.dataset, config.pairs_dir)
    geometry = geometry_of(layout.kind.name, protocol.fashion_geometry)
    check_frame(geometry, layout.kind.image_size, protocol.name, str(layout.root))
    if not config.real_data:
        check_generation_setting(config.generated_dir, config.sources, config.stage)
    pairs_file, all_pairs = scored_pairs(layout, config.sources)
    if not all_pairs:
        raise DataError(pairs_file, "no test pairs")
    if config.sources and (config.format not in ("auto", "single") or config.pattern):
        raise BenchError(f"--sources {config.sources} reads {{from_key}}___{{to}}.png images (format single), "
                         f"not {config.pattern or config.format!r}")
    if config.panel is not None and config.pattern is None:
        raise BenchError("--panel picks a panel of the files --pattern names; give --pattern too "
                         "(--format patn already takes panel 5/5)")
    panel = parse_panel(config.panel)
    if config.pattern is not None:
        check_pattern(config.pattern)
    estimator = load_estimator(config.estimator, config.weights_dir)
    size = layout.kind.image_size
    if config.real_data:
        discovery, pairs, generated = None, all_pairs, None
    else:
        discovery = discover(config.generated_dir, all_pairs, "single" if config.sources else config.format, config.pattern)
        check_coverage(discovery, config.generated_dir, config.allow_missing)
        order = sorted(discovery.files)
        pairs = [all_pairs[i] for i in order]
        started = time.perf_counter()
        generated = load_generated([discovery.files[i] for i in order], discovery.format, size, config.progress, panel,
                                   geometry)
        print(f"decoded {len(generated)} generated images: {time.perf_counter() - started:.2f} s", file=sys.stderr, flush=True)
    started = time.perf_counter()
    inputs = build_inputs(config, layout, pairs, generated, estimator, geometry)
    print(f"decoded {len(inputs.targets)} targets: {time.perf_counter() - started:.2f} s", file=sys.stderr, flush=True)
    results = run_metrics(entries, inputs, protocol, config.real_data)
    record = assemble_record(config, layout, protocol, pairs_file, len(all_pairs), discovery, entries, results, estimator)
    record.update(sources=config.sources, tuples_file=str(pairs_file.resolve()) if config.sources else None,
                  setting=Setting(sources=config.sources, stage=config.stage).to_dict())
    return Evaluation(write_outputs(config.out, record, pairs, results), results)
