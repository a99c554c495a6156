"""Readers and writers for the original annotation and pairs CSV files.

Annotation files (pose-gan compute_coordinates.py, reused by PATN, PoNA, GFLA):
header ``name:keypoints_y:keypoints_x``, then one ``"%s: %s: %s"`` row per image
with two JSON lists of 18 ints (row index y, column index x), -1 for a missing
keypoint. Pairs files: header ``from,to``, comma-separated, no index column.
Both writers are byte-compatible with the originals (protocol.md section 1).
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

from bench.data.keypoints import MISSING, NUM_KEYPOINTS
from bench.errors import DataError
from bench.io import atomic_write_text, read_text

ANNOTATION_HEADER = "name:keypoints_y:keypoints_x"
PAIRS_HEADER = "from,to"

# name -> int array of shape (18, 2) holding (y, x); -1 marks a missing point.
Annotations = dict[str, np.ndarray]


def read_lines(path: Path, what: str) -> list[str]:
    """The lines of a UTF-8 text file; a byte-order mark or bytes that are not UTF-8 are errors naming the line."""
    return read_text(path, what).splitlines()


def _parse_coords(text: str, path: Path, line: int, field: str) -> list[int]:
    try:
        values = json.loads(text)
    except json.JSONDecodeError as err:
        raise DataError(path, f"{field} is not a JSON list ({err.msg}): {text.strip()[:60]!r}", line) from None
    if not isinstance(values, list) or len(values) != NUM_KEYPOINTS:
        n = len(values) if isinstance(values, list) else type(values).__name__
        raise DataError(path, f"{field} must be a list of {NUM_KEYPOINTS} integers, got {n}", line)
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        raise DataError(path, f"{field} must hold integers only", line)
    return values


def _parse_row(row: str, path: Path, line: int) -> tuple[str, np.ndarray]:
    fields = row.split(":")
    if len(fields) != 3:
        raise DataError(path, f"expected 3 ':'-separated fields (name, keypoints_y, keypoints_x), got {len(fields)}", line)
    name = fields[0].strip()
    if not name:
        raise DataError(path, "empty image name", line)
    ys = _parse_coords(fields[1], path, line, "keypoints_y")
    xs = _parse_coords(fields[2], path, line, "keypoints_x")
    kp = np.stack([np.asarray(ys), np.asarray(xs)], axis=1).astype(np.int64)
    if ((kp[:, 0] == MISSING) != (kp[:, 1] == MISSING)).any():
        raise DataError(path, f"{name}: a keypoint has only one coordinate equal to {MISSING}", line)
    if ((kp < MISSING)).any():
        raise DataError(path, f"{name}: negative coordinate other than {MISSING}", line)
    return name, kp


def read_annotations(path: str | Path, image_size: tuple[int, int] | None = None) -> Annotations:
    """Read an annotation CSV into ``{name: (18, 2) array of (y, x)}``.

    With ``image_size=(H, W)`` every present keypoint must lie inside the image.
    Errors name the file and the 1-based line.
    """
    path = Path(path)
    lines = read_lines(path, "annotation file")
    if not lines or lines[0].strip() != ANNOTATION_HEADER:
        raise DataError(path, f"first line must be the header {ANNOTATION_HEADER!r}", 1)
    out: Annotations = {}
    for number, row in enumerate(lines[1:], start=2):
        if not row.strip():
            continue
        name, kp = _parse_row(row, path, number)
        if name in out:
            raise DataError(path, f"duplicate image name {name!r}", number)
        if image_size is not None:
            _check_inside(kp, image_size, path, number, name)
        out[name] = kp
    return out


def _check_inside(kp: np.ndarray, image_size: tuple[int, int], path: Path, line: int, name: str) -> None:
    h, w = image_size
    present = kp[:, 0] != MISSING
    bad = present & ((kp[:, 0] >= h) | (kp[:, 1] >= w))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataError(path, f"{name}: keypoint {i} at (y={kp[i, 0]}, x={kp[i, 1]}) lies outside the {h}x{w} image", line)


def format_annotations(annotations: Mapping[str, np.ndarray]) -> str:
    rows = [ANNOTATION_HEADER]
    for name, kp in annotations.items():
        ys = [int(v) for v in kp[:, 0]]
        xs = [int(v) for v in kp[:, 1]]
        rows.append(f"{name}: {ys}: {xs}")
    return "\n".join(rows) + "\n"


def write_annotations(path: str | Path, annotations: Mapping[str, np.ndarray]) -> None:
    atomic_write_text(path, format_annotations(annotations))


def read_pairs(path: str | Path) -> list[tuple[str, str]]:
    """Read a pairs CSV (``from,to``); extra columns are ignored as the loaders do.

    A pair listed twice is an error: it would be trained on, or scored, twice.
    """
    path = Path(path)
    lines = read_lines(path, "pairs file")
    header = [h.strip() for h in lines[0].split(",")] if lines else []
    if "from" not in header or "to" not in header:
        raise DataError(path, f"header must contain the columns 'from' and 'to', got {lines[0] if lines else ''!r}", 1)
    i_from, i_to = header.index("from"), header.index("to")
    seen: dict[tuple[str, str], int] = {}
    for number, row in enumerate(lines[1:], start=2):
        if not row.strip():
            continue
        fields = row.split(",")
        if len(fields) != len(header):
            raise DataError(path, f"expected {len(header)} comma-separated fields, got {len(fields)}", number)
        pair = (fields[i_from].strip(), fields[i_to].strip())
        if pair in seen:
            raise DataError(path, f"pair {pair[0]} -> {pair[1]} is listed twice (first on line {seen[pair]})", number)
        seen[pair] = number
    return list(seen)


def format_pairs(pairs: Iterable[tuple[str, str]]) -> str:
    return PAIRS_HEADER + "\n" + "".join(f"{a},{b}\n" for a, b in pairs)


def write_pairs(path: str | Path, pairs: Iterable[tuple[str, str]]) -> None:
    atomic_write_text(path, format_pairs(pairs))
