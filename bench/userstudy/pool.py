"""The images a study draws from: real test targets and each method's generated test images.

Real images are the distinct targets of the test pairs (the ground truth the methods try to
produce); a method's generated images are found as ``bench evaluate`` finds them (any of its
folder layouts). Every image is served as PNG of its decoded pixels at the dataset's size, so
the file type tells a participant nothing.
"""
from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from bench.data.annotations import read_annotations, read_pairs
from bench.data.layout import DatasetLayout
from bench.errors import BenchError
from bench.userstudy.config import StudyConfig, StudyDataset

Pair = tuple[str, str]


@dataclass(frozen=True)
class ImageRef:
    """One image a trial shows. role: real | generated | source | pose (skeleton of ``name``'s keypoints)."""
    role: str
    dataset: str
    name: str  # real/source/pose: test image name; generated: the generated file's name
    method: str | None = None
    pair: Pair | None = None

    def to_json(self) -> dict:
        return {"role": self.role, "dataset": self.dataset, "name": self.name, "method": self.method,
                "pair": list(self.pair) if self.pair else None}


@dataclass
class DatasetPool:
    spec: StudyDataset
    layout: DatasetLayout
    pairs: list[Pair]
    real: list[str]  # distinct test targets, in pair-file order
    generated: dict[str, dict[Pair, Path]]  # method -> pair -> file
    formats: dict[str, str]
    common: list[Pair]  # pairs every method has, in pair-file order
    keypoints: dict | None = None

    @property
    def kind(self) -> str:
        return self.layout.kind.name

    def path(self, ref: ImageRef) -> Path:
        if ref.role == "generated":
            return self.generated[ref.method][ref.pair]
        return self.layout.images("test") / ref.name

    def pixels(self, ref: ImageRef) -> np.ndarray:
        from bench.data.images import load_image

        size = self.layout.kind.image_size
        if ref.role == "pose":
            from bench.data.draw import pose_image

            if self.keypoints is None:  # read once, on the first skeleton served
                self.keypoints = read_annotations(self.layout.annotations("test"), image_size=size)
            return pose_image(self.keypoints[ref.name], size)
        path = self.path(ref)
        if ref.role == "generated" and self.formats[ref.method] == "patn":
            from bench.evaluate import composite_panel

            return composite_panel(load_image(path), size, path)
        return load_image(path, size)

    def png(self, ref: ImageRef) -> bytes:
        from PIL import Image

        buffer = io.BytesIO()
        Image.fromarray(self.pixels(ref)).save(buffer, format="PNG")
        return buffer.getvalue()


def open_pool(spec: StudyDataset, config: StudyConfig) -> DatasetPool:
    """Find the images of one dataset; too few for the protocol's counts is an error naming the folder."""
    from bench.evaluate import discover

    layout = DatasetLayout.open(spec.root, spec.pairs_dir)
    pairs = read_pairs(layout.pairs("test"))
    real = list(dict.fromkeys(b for _, b in pairs))
    if len(real) < config.real:
        raise BenchError(f"{layout.pairs('test')}: {len(real)} distinct test targets (real images), "
                         f"the protocol needs {config.real} per method block")
    generated, formats = {}, {}
    for method, folder in spec.methods.items():
        found = discover(Path(folder), pairs)
        generated[method] = {pairs[i]: path for i, path in sorted(found.files.items())}
        formats[method] = found.format
        if len(generated[method]) < config.generated:
            raise BenchError(f"{folder}: too few generated images for the protocol: {len(generated[method])} test pairs "
                             f"have an image of {method}, the protocol needs {config.generated}")
    common = [p for p in pairs if all(p in g for g in generated.values())]
    if len(common) < config.groups:
        raise BenchError(f"dataset {spec.name!r}: too few generated images for the protocol: {len(common)} test pairs "
                         f"have an image of every method, the preference protocol needs {config.groups} groups")
    return DatasetPool(spec, layout, pairs, real, generated, formats, common)


@dataclass
class Study:
    """A config with its image pools, and the hash a database is tied to."""
    config: StudyConfig
    pools: dict[str, DatasetPool]

    @cached_property
    def hash(self) -> str:
        """Config and pool manifests: a database made for other images or counts is refused."""
        manifest = {name: {"real": pool.real, "generated": {m: sorted(f"{a}|{b}" for a, b in g)
                                                               for m, g in pool.generated.items()}}
                    for name, pool in self.pools.items()}
        text = json.dumps({"config": self.config.canonical(), "images": manifest}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()


def open_study(config: StudyConfig) -> Study:
    return Study(config, {d.name: open_pool(d, config) for d in config.datasets})
