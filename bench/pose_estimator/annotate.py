"""`bench pose annotate`: keypoints of new images, written in the original annotation format.

The output is what pose-gan's ``compute_coordinates.py`` writes and every loader
here reads (:mod:`bench.data.annotations`): header ``name:keypoints_y:keypoints_x``,
one ``name: [18 y]: [18 x]`` row per image, the image's file name in the name
column, -1 for a missing keypoint. Every image is read and estimated before the
file is written (atomically), so a bad image leaves nothing behind.
"""
from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from bench.data.annotations import ANNOTATION_HEADER, write_annotations
from bench.data.images import IMAGE_SUFFIXES, load_image
from bench.errors import BenchError, DataError


def image_files(inputs: Iterable[str | Path]) -> list[Path]:
    """The image files named, folders expanded to their image files (sorted); names must be unique."""
    files: list[Path] = []
    for given in map(Path, inputs):
        if given.is_dir():
            found = sorted(p for p in given.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
                           and not p.name.startswith("."))
            if not found:
                raise DataError(given, f"folder holds no image files ({', '.join(IMAGE_SUFFIXES)})")
            files += found
        elif given.is_file():
            files.append(given)
        else:
            raise DataError(given, "no such image file or folder")
    if not files:
        raise BenchError("no images to annotate")
    seen: dict[str, Path] = {}
    for path in files:
        if path.name in seen and seen[path.name].resolve() != path.resolve():
            raise DataError(path, f"a second image named {path.name!r} (first: {seen[path.name]}); the name column "
                                  "must identify each image")
        seen.setdefault(path.name, path)
    return list(dict.fromkeys(seen.values()))


def check_out(out: Path) -> None:
    """``out`` may be new or an annotation file (its header), never some other file."""
    if out.is_dir():
        raise BenchError(f"{out}: is a folder; --out is the annotation CSV to write")
    if out.exists():
        try:
            with open(out, encoding="utf-8") as f:
                first = f.readline().strip()
        except (OSError, UnicodeDecodeError):
            first = ""
        if first != ANNOTATION_HEADER:
            raise BenchError(f"{out}: exists and is not an annotation file (first line is not {ANNOTATION_HEADER!r}); "
                             "refusing to replace it")


def annotate(inputs: Iterable[str | Path], out: str | Path, estimator, progress: bool = True) -> dict[str, np.ndarray]:
    """Estimate the keypoints of every image and write them to ``out``; returns ``{name: (18, 2) (y, x)}``."""
    out = Path(out)
    check_out(out)
    files = image_files(inputs)
    rows: dict[str, np.ndarray] = {}
    for i, path in enumerate(files, 1):
        image = load_image(path)
        rows[path.name] = estimator.predict(image[None], [path.name])[0]
        if progress and (i % 100 == 0 or i == len(files)):
            print(f"annotated {i}/{len(files)} images", file=sys.stderr, flush=True)
    write_annotations(out, rows)
    return rows
