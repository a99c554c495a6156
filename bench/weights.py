"""Pretrained weights the metrics and losses need, and where they are expected.

Nothing here downloads: weights are looked up in an explicit folder
(``--weights-dir`` / ``$BENCH_WEIGHTS_DIR``) and in the libraries' own cache,
``torch.hub.get_dir()/checkpoints``, under the exact file names the libraries
use, so a cache filled on a connected machine just works. A missing file gives
``None`` from :func:`find` and a clear :class:`WeightsMissing` from :func:`require`.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from bench.errors import BenchError


@dataclass(frozen=True)
class WeightSpec:
    name: str
    filename: str  # the file name the owning library caches it under
    used_by: str
    url: str


WEIGHTS: dict[str, WeightSpec] = {
    spec.name: spec
    for spec in (
        WeightSpec("inception-fidelity", "weights-inception-2015-12-05-6726825d.pth", "IS, mask-IS, FID (torch-fidelity)",
                   "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/weights-inception-2015-12-05-6726825d.pth"),
        WeightSpec("alexnet", "alexnet-owt-7be5be79.pth", "LPIPS, mask-LPIPS (lpips, torchvision AlexNet)",
                   "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth"),
        WeightSpec("vgg19", "vgg19-dcbb9e9d.pth", "perceptual / style / nearest-neighbour losses (torchvision VGG19)",
                   "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"),
    )
}


class WeightsMissing(BenchError):
    pass


def search_dirs(weights_dir: str | Path | None = None) -> list[Path]:
    import torch

    dirs = [Path(weights_dir)] if weights_dir else []
    if os.environ.get("BENCH_WEIGHTS_DIR"):
        dirs.append(Path(os.environ["BENCH_WEIGHTS_DIR"]))
    dirs.append(Path(torch.hub.get_dir()) / "checkpoints")
    return dirs


def find(name: str, weights_dir: str | Path | None = None) -> Path | None:
    spec = WEIGHTS[name]
    for folder in search_dirs(weights_dir):
        if (folder / spec.filename).is_file():
            return folder / spec.filename
    return None


def require(name: str, weights_dir: str | Path | None = None) -> Path:
    path = find(name, weights_dir)
    if path is None:
        spec = WEIGHTS[name]
        where = ", ".join(str(d) for d in search_dirs(weights_dir))
        raise WeightsMissing(
            f"pretrained weights {spec.filename} ({spec.used_by}) not found in {where}; "
            f"download {spec.url} on a connected machine and put it in one of those folders "
            f"or pass --weights-dir / set BENCH_WEIGHTS_DIR"
        )
    return path
