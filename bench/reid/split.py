"""The reduced training set of one portion p, seeded and recorded.

PoNA keeps "a portion p" of the Market training images at random and regenerates
the rest from kept images of the same identity, so that the new set has "the same
identities and each identity has the same number of images with the same pose".
The paper does not say how the draw keeps every identity; the rule here:

* per identity (images sorted by name), one permutation drawn from
  ``default_rng([seed, identity index])``; the first ``max(1, floor(p * n + 0.5))``
  images are kept. The same seed gives nested sets: what p = 0.2 keeps, p = 0.4 keeps too;
* each removed image gets one source, a kept image of its identity drawn from
  ``default_rng([seed, identity index, 1])``: the generator renders that source in
  the removed image's pose, and the result takes the removed image's name.

``OUT/manifest.json`` records the rule, seed, p, counts and every name;
``OUT/pairs.csv`` lists (from = source, to = removed image) in the pair-file format.
"""
from __future__ import annotations

import hashlib
import math
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.data.annotations import format_pairs
from bench.errors import BenchError, DataError
from bench.io import atomic_path, atomic_write_json, provenance
from bench.reid.market import MarketImage, folder, list_images

MANIFEST, PAIRS = "manifest.json", "pairs.csv"
RULE = "per identity: keep the first max(1, floor(p*n+0.5)) of a permutation from default_rng([seed, identity index])"


@dataclass(frozen=True)
class ReducedSplit:
    p: float
    seed: int
    kept: list[str]
    removed: list[tuple[str, str]]  # (source kept image, removed image), in name order of the removed images
    identities: int


def kept_count(n: int, p: float) -> int:
    return max(1, math.floor(p * n + 0.5))


def reduce_split(images: list[MarketImage], p: float, seed: int = 0) -> ReducedSplit:
    if not 0 < p <= 1:
        raise BenchError(f"portion p must be in (0, 1], got {p}")
    groups: dict[int, list[str]] = defaultdict(list)
    for image in images:
        if image.person in (-1, 0):
            raise BenchError(f"{image.name}: junk/distractor images have no identity to train on")
        groups[image.person].append(image.name)
    kept, removed = [], []
    for index, person in enumerate(sorted(groups)):
        names = sorted(groups[person])
        order = np.random.default_rng([seed, index]).permutation(len(names))
        k = kept_count(len(names), p)
        keep = [names[i] for i in order[:k]]
        drop = sorted(names[i] for i in order[k:])
        choice = np.random.default_rng([seed, index, 1]).integers(0, k, len(drop))
        kept += keep
        removed += [(keep[int(c)], name) for c, name in zip(choice, drop)]
    return ReducedSplit(p, seed, sorted(kept), sorted(removed, key=lambda pair: pair[1]), len(groups))


def p_tag(p: float) -> str:
    """p=0.2 -> "p20" (folder and stage names)."""
    return f"p{round(p * 100):d}"


def write_split(dataset_root: str | Path, p: float, out: str | Path, seed: int = 0) -> ReducedSplit:
    train = folder(dataset_root, "train")
    split = reduce_split(list_images(train), p, seed)
    listing = "\n".join(sorted(n.name for n in train.iterdir())).encode()
    with atomic_path(out) as tmp:
        tmp.mkdir()
        (tmp / PAIRS).write_text(format_pairs(split.removed))
        atomic_write_json(tmp / MANIFEST, {
            "p": p, "seed": seed, "rule": RULE, "train_folder": str(train),
            "train_listing_sha256": hashlib.sha256(listing).hexdigest(),
            "identities": split.identities, "images": len(split.kept) + len(split.removed),
            "kept_count": len(split.kept), "removed_count": len(split.removed),
            "kept": split.kept, "removed": [{"from": a, "to": b} for a, b in split.removed],
            "provenance": provenance(seed=seed),
        })
    return split


def read_split(path: str | Path) -> ReducedSplit:
    import json

    manifest = Path(path) / MANIFEST
    try:
        data = json.loads(manifest.read_text())
        return ReducedSplit(float(data["p"]), int(data["seed"]), list(data["kept"]),
                            [(r["from"], r["to"]) for r in data["removed"]], int(data["identities"]))
    except (OSError, json.JSONDecodeError, KeyError, TypeError) as err:
        raise DataError(manifest, f"not a reduced-split manifest ({type(err).__name__}: {err}); run `bench reid split`") from None
