"""Market-1501 file names and folders as the re-ID protocol reads them.

A name ``0002_c1s1_000451_03.jpg`` carries the person id (``-1`` junk, ``0000``
distractor) and the camera (``c1``..``c6``); generated images keep the name of the
image they replace (``.png``), so they parse the same way.

Folders: the official release has ``bounding_box_train/``, ``bounding_box_test/``
(the gallery) and ``query/``; the PATN release layout the rest of the benchmark
reads calls the first two ``train/`` and ``test/``. Either is accepted.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from bench.errors import DataError

# The release itself has a few names with the suffix twice (``1488_c5s3_071737_01.jpg.jpg``).
_NAME = re.compile(r"^(-1|\d{4})_c([1-6])s(\d)_(\d{6})_(\d{2})(\.jpg)?\.(jpg|png)$")
IMAGE_SUFFIXES = (".jpg", ".png")
FOLDERS = {  # role -> folder names, official first
    "train": ("bounding_box_train", "train"),
    "gallery": ("bounding_box_test", "test"),
    "query": ("query",),
}


@dataclass(frozen=True)
class MarketImage:
    name: str
    person: int  # -1 junk, 0 distractor
    camera: int

    @classmethod
    def parse(cls, name: str, where: str | Path = "<name>") -> "MarketImage":
        match = _NAME.match(name)
        if not match:
            raise DataError(where, f"{name!r} is not a Market-1501 name (PPPP_cCsS_FFFFFF_BB.jpg)")
        return cls(name, int(match.group(1)), int(match.group(2)))


def folder(root: str | Path, role: str) -> Path:
    """The folder of ``role`` (train, gallery, query) under a dataset root."""
    root = Path(root)
    for name in FOLDERS[role]:
        if (root / name).is_dir():
            return root / name
    raise DataError(root, f"no {role} folder: expected one of {', '.join(n + '/' for n in FOLDERS[role])}")


def list_images(path: str | Path) -> list[MarketImage]:
    """Every Market image in a folder, sorted by name (hidden files and other suffixes ignored)."""
    path = Path(path)
    if not path.is_dir():
        raise DataError(path, "image folder does not exist")
    names = sorted(p.name for p in path.iterdir() if p.suffix in IMAGE_SUFFIXES and not p.name.startswith("."))
    return [MarketImage.parse(n, path) for n in names]
