"""Where a dataset's files live, in the real on-disk layout of the PATN release.

A dataset root holds ``train/`` and ``test/`` image folders and the annotation
CSVs; the prepared pair lists live beside them or in a separate folder:

===============  ==============================  =================================
kind             annotations                     official pairs (if supplied)
===============  ==============================  =================================
``market``       ``market-annotation-{split}``   ``market-pairs-{split}.csv``
``deepfashion``  ``fasion-resize-annotation-*``  ``fasion-resize-pairs-{split}.csv``
===============  ==============================  =================================

(``fasion`` is the original spelling.) A third layout, pose-gan's DeepFashion
(AliaksandrSiarohin/pose-gan, the "old" split of Lakhal et al. and Horiuchi et al.),
keeps the 256x256 frame: ``fasion-annotation-{split}.csv`` / ``fasion-pairs-{split}.csv``
(:data:`POSEGAN_FASHION`, kind name ``deepfashion``; scored by the ``posegan``
protocols, bench/metrics/geometry.py). Models are built for :data:`KINDS` only.
``bench data prepare`` writes
``pairs-{split}.csv`` into its ``--out`` folder; those take precedence.

DeepFashion follows the PATN geometry: images 176 wide x 256 high, cropped from
the 256x256 frame with box (40, 0, 216, 256); keypoints shifted by -40 in x.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from bench.errors import DataError

SPLITS = ("train", "test")
_FASHION_IDENTITY = re.compile(r"^(.*?id\d{10})")


def market_identity(name: str) -> str:
    """Market-1501: the person id is the name up to the first ``_`` (pose-gan rule)."""
    return name.split("_")[0]


def fashion_identity(name: str) -> str:
    """DeepFashion: gender + category + 8-digit item id + 2-digit outfit index.

    PATN/GFLA names (``fashionMENShirts_Polosid0000180202_4full.jpg``) keep the
    category's underscore, so pose-gan's ``split('_')[0]`` would cut the category;
    we take everything up to ``id`` plus 10 digits, which also covers pose-gan's
    ``fasion...id0000347017_3back.jpg`` names.
    """
    match = _FASHION_IDENTITY.match(name)
    return match.group(1) if match else name.split("_")[0]


@dataclass(frozen=True)
class DatasetKind:
    name: str
    image_size: tuple[int, int]  # (H, W)
    annotation_prefix: str
    pairs_prefix: str

    def identity(self, image_name: str) -> str:
        return market_identity(image_name) if self.name == "market" else fashion_identity(image_name)


KINDS = {
    "market": DatasetKind("market", (128, 64), "market-annotation", "market-pairs"),
    "deepfashion": DatasetKind("deepfashion", (256, 176), "fasion-resize-annotation", "fasion-resize-pairs"),
}


#: pose-gan's DeepFashion: the 256x256 frame, pose-gan's file names (protocol.md 1.1, 1.4).
POSEGAN_FASHION = DatasetKind("deepfashion", (256, 256), "fasion-annotation", "fasion-pairs")
#: Every folder layout :meth:`DatasetLayout.open` recognises, keyed like ``bench data synth`` specs.
LAYOUTS = {**KINDS, "deepfashion-posegan": POSEGAN_FASHION}


@dataclass(frozen=True)
class DatasetLayout:
    root: Path
    kind: DatasetKind
    pairs_dir: Path | None = None

    @classmethod
    def open(cls, root: str | Path, pairs_dir: str | Path | None = None) -> "DatasetLayout":
        """Recognise the dataset kind from the annotation files present in ``root``."""
        root = Path(root)
        if not root.is_dir():
            raise DataError(root, "dataset folder does not exist")
        for kind in LAYOUTS.values():
            if (root / f"{kind.annotation_prefix}-train.csv").exists() or (root / f"{kind.annotation_prefix}-test.csv").exists():
                return cls(root, kind, Path(pairs_dir) if pairs_dir else None)
        expected = ", ".join(f"{k.annotation_prefix}-{{train,test}}.csv" for k in LAYOUTS.values())
        raise DataError(root, f"not a dataset folder: expected one of {expected}")

    def images(self, split: str) -> Path:
        return self.root / split

    def annotations(self, split: str) -> Path:
        return self.root / f"{self.kind.annotation_prefix}-{split}.csv"

    def pairs(self, split: str) -> Path:
        """Prepared pairs if present (``--out`` of prepare, or the root), else the official file."""
        for folder in (self.pairs_dir, self.root):
            if folder is not None and (folder / f"pairs-{split}.csv").exists():
                return folder / f"pairs-{split}.csv"
        official = self.root / f"{self.kind.pairs_prefix}-{split}.csv"
        if official.exists():
            return official
        raise DataError(self.pairs_dir or self.root, f"no pairs for split {split!r}: run `bench data prepare` first")
