"""Pretrained weights the metrics and losses need, and where they are expected.

Nothing here downloads: weights are looked up in an explicit folder
(``--weights-dir`` / ``$BENCH_WEIGHTS_DIR``) and in the libraries' own cache,
``torch.hub.get_dir()/checkpoints``, under the exact file names the libraries
use, so a cache filled on a connected machine just works. A missing file gives
``None`` from :func:`find` and a clear :class:`WeightsMissing` from :func:`require`.
:func:`install` copies a file fetched elsewhere into that cache under its name.
"""
from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from bench.errors import BenchError


@dataclass(frozen=True)
class WeightSpec:
    name: str
    filename: str  # the file name the owning library caches it under
    used_by: str
    url: str
    #: first hex digits of the file's sha256, where the owning library checks them
    #: (torchvision names its files ``<arch>-<sha256 prefix>.pth`` and verifies it).
    sha256_prefix: str | None = None


WEIGHTS: dict[str, WeightSpec] = {
    spec.name: spec
    for spec in (
        WeightSpec("inception-fidelity", "weights-inception-2015-12-05-6726825d.pth", "IS, mask-IS, FID (torch-fidelity)",
                   "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/weights-inception-2015-12-05-6726825d.pth"),
        WeightSpec("alexnet", "alexnet-owt-7be5be79.pth", "LPIPS, mask-LPIPS (lpips, torchvision AlexNet)",
                   "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth", sha256_prefix="7be5be79"),
        WeightSpec("vgg19", "vgg19-dcbb9e9d.pth", "perceptual / style / nearest-neighbour losses (torchvision VGG19)",
                   "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth", sha256_prefix="dcbb9e9d"),
        WeightSpec("resnet50", "resnet50-0676ba61.pth", "re-ID baseline backbone, PoNA Table VI (torchvision ResNet-50, ImageNet)",
                   "https://download.pytorch.org/models/resnet50-0676ba61.pth", sha256_prefix="0676ba61"),
    )
}


class WeightsMissing(BenchError):
    pass


def hub_checkpoints() -> Path:
    """The folder torch.hub (torchvision, torch-fidelity) caches downloaded weights in."""
    import torch

    return Path(torch.hub.get_dir()) / "checkpoints"


def search_dirs(weights_dir: str | Path | None = None) -> list[Path]:
    dirs = [Path(weights_dir)] if weights_dir else []
    if os.environ.get("BENCH_WEIGHTS_DIR"):
        dirs.append(Path(os.environ["BENCH_WEIGHTS_DIR"]))
    dirs.append(hub_checkpoints())
    return dirs


def find(name: str, weights_dir: str | Path | None = None) -> Path | None:
    spec = WEIGHTS[name]
    for folder in search_dirs(weights_dir):
        if (folder / spec.filename).is_file():
            return folder / spec.filename
    return None


def missing_message(name: str, weights_dir: str | Path | None = None) -> str:
    spec = WEIGHTS[name]
    where = ", ".join(str(d) for d in search_dirs(weights_dir))
    return (
        f"pretrained weights {spec.filename} ({spec.used_by}) not found in {where}; "
        f"download {spec.url} on a connected machine and put it in one of those folders "
        f"(`bench weights install FILE`) or pass --weights-dir / set BENCH_WEIGHTS_DIR"
    )


def require(name: str, weights_dir: str | Path | None = None) -> Path:
    path = find(name, weights_dir)
    if path is None:
        raise WeightsMissing(missing_message(name, weights_dir))
    return path


@dataclass(frozen=True)
class WeightStatus:
    spec: WeightSpec
    path: Path | None  # where it was found, None when missing
    searched: list[Path]

    def to_dict(self) -> dict:
        return {
            "name": self.spec.name, "file": self.spec.filename, "used_by": self.spec.used_by,
            "present": self.path is not None, "path": str(self.path) if self.path else None,
            "searched": [str(d) for d in self.searched], "url": self.spec.url,
        }


def status(weights_dir: str | Path | None = None) -> list[WeightStatus]:
    dirs = search_dirs(weights_dir)
    return [WeightStatus(spec, find(spec.name, weights_dir), dirs) for spec in WEIGHTS.values()]


def sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def spec_for_file(path: str | Path) -> WeightSpec:
    """The weight a file is, judged by its exact name; BenchError for any other name."""
    path = Path(path)
    for spec in WEIGHTS.values():
        if path.name == spec.filename:
            return spec
    expected = ", ".join(spec.filename for spec in WEIGHTS.values())
    raise BenchError(f"{path}: not a known weights file name; expected one of {expected}")


def install(path: str | Path, dest: str | Path | None = None) -> Path:
    """Copy a weights file (checked by name and, where known, sha256 prefix) into ``dest``.

    ``dest`` defaults to the hub cache, where the libraries look for it themselves.
    The copy is atomic: an interrupted install leaves no partial file behind.
    """
    from bench.io import atomic_path

    path = Path(path)
    if not path.is_file():
        raise BenchError(f"{path}: no such file")
    spec = spec_for_file(path)
    if spec.sha256_prefix and not sha256(path).startswith(spec.sha256_prefix):
        raise BenchError(f"{path}: sha256 does not start with {spec.sha256_prefix}; the file is corrupt or a different release")
    target = Path(dest or hub_checkpoints()) / spec.filename
    with atomic_path(target) as tmp:
        shutil.copyfile(path, tmp)
    return target
