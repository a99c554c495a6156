"""Keypoints supplied as an annotation CSV, e.g. OpenPose run on the generated images.

PATN's pipeline (tool/crop_market.py + compute_coordinates.py) writes ``pckh.csv`` in
the annotation format with the composite file name in the name column
(``{from}___{to}_vis.jpg``). We accept that, the project's generated file names
(``{from}___{to}.png`` / ``.jpg``), the bare ``{from}___{to}`` key, GFLA names
(``{from_stem}_2_{to_stem}_vis.jpg``) and, for the real-data row, the target image name.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from bench.data.annotations import read_annotations
from bench.data.keypoints import MISSING
from bench.errors import DataError

_SUFFIXES = ("", ".png", ".jpg", "_vis.jpg", "_vis.png")


def _stem(name: str) -> str:
    return name.rsplit(".", 1)[0] if "." in name else name


def candidate_keys(name: str) -> list[str]:
    """Every row name under which the keypoints of ``name`` may be stored."""
    keys = [name + suffix for suffix in _SUFFIXES]
    source, sep, target = name.partition("___")
    if sep:
        gfla = f"{_stem(source)}_2_{_stem(target)}"
        keys += [gfla + "_vis.jpg", gfla + "_vis.png", gfla]
    return keys


class CsvEstimator:
    """Looks up each image's keypoints by name in an annotation CSV."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.rows = read_annotations(self.path)
        digest = hashlib.sha256(self.path.read_bytes()).hexdigest()[:12]
        self.name = f"csv:{self.path} (sha256 {digest})"

    def lookup(self, name: str) -> np.ndarray:
        for key in candidate_keys(name):
            if key in self.rows:
                return self.rows[key]
        raise DataError(self.path, f"no keypoints for {name!r} (tried {', '.join(candidate_keys(name)[:3])}, ...)")

    def predict(self, images: np.ndarray, names: list[str]) -> np.ndarray:
        if len(images) != len(names):
            raise ValueError(f"{len(images)} images but {len(names)} names")
        out = np.stack([self.lookup(n) for n in names]) if names else np.zeros((0, 18, 2), np.int64)
        self._check_inside(out, names, images.shape[1:3])
        return out

    def _check_inside(self, keypoints: np.ndarray, names: list[str], size: tuple[int, int]) -> None:
        """Keypoints must be in the frame of the images scored (e.g. 176x256, not padded 256x256)."""
        h, w = size
        present = keypoints[..., 0] != MISSING
        bad = present & ((keypoints[..., 0] >= h) | (keypoints[..., 1] >= w))
        if bad.any():
            i = int(np.flatnonzero(bad.any(axis=1))[0])
            raise DataError(self.path, f"{names[i]!r}: keypoints lie outside the {h}x{w} image frame")
