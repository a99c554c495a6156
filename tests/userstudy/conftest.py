"""A small study: a synthetic Market test split, two "methods" whose images are written here.

The methods' images are the source image tinted per method (red / blue channel halved): real
files in the project's generated layout ``{from}___{to}.png``, distinct per method, so tests can
tell from the pixels which method an image is. They stand in for generators' outputs only as
files to show; no metric is computed on them.
"""
from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bench.data.annotations import read_annotations
from bench.data.layout import market_identity
from bench.userstudy.config import StudyConfig, StudyDataset

METHODS = {"patn": 0, "gfla": 2}  # registered names -> the channel halved in their images


@pytest.fixture(scope="session")
def study_data(tmp_path_factory) -> tuple[Path, dict[str, Path]]:
    from bench.data.synth import synthesize

    base = tmp_path_factory.mktemp("study")
    root = base / "synth-market"
    synthesize("synth-market", root, seed=3, identities_train=1, identities_test=5, images_per_identity=4, progress=False)
    names = sorted(read_annotations(root / "market-annotation-test.csv"))
    by_person: dict[str, list[str]] = {}
    for name in names:
        if market_identity(name) in ("-1", "0000"):  # distractors and junk: nobody to transfer
            continue
        by_person.setdefault(market_identity(name), []).append(name)
    pairs = [p for group in by_person.values() for p in itertools.permutations(group, 2)]
    (root / "pairs-test.csv").write_text("from,to\n" + "".join(f"{a},{b}\n" for a, b in pairs))
    folders = {}
    for method, channel in METHODS.items():
        folder = base / "generated" / method
        folder.mkdir(parents=True)
        for a, b in pairs:
            pixels = np.asarray(Image.open(root / "test" / a).convert("RGB")).copy()
            pixels[..., channel] //= 2
            Image.fromarray(pixels).save(folder / f"{a}___{b}.png")
        folders[method] = folder
    return root, folders


@pytest.fixture
def make_config(study_data):
    root, folders = study_data

    def make(**counts) -> StudyConfig:
        counts = {"real": 4, "generated": 4, "warmup": 2, "groups": 3, "show_ms": 300, **counts}
        return StudyConfig((StudyDataset("synth-market", root, dict(folders)),), **counts)

    return make
