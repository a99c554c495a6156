"""Pretrained weights the metrics and losses need, where they are expected, and their checks.

Weights are looked up in an explicit folder (``--weights-dir`` /
``$BENCH_WEIGHTS_DIR``) and in the libraries' own cache,
``torch.hub.get_dir()/checkpoints``, under the exact file names the libraries
use, so a cache filled on a connected machine just works. :func:`require` hands
out a file only after its size and full sha256 equal the published file's
(:class:`WeightSpec`): torch-fidelity unpickles the Inception file with
``weights_only=False``, so an unchecked file of that name could run code.
A missing file gives :class:`WeightsMissing`, a wrong one :class:`WeightsRefused`.
:func:`download` fetches a file on a connected machine; :func:`install` copies
one fetched elsewhere (for a file published inside a zip, the zip itself may be given).
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
    #: sha256 and size of the published file. Sources: each name's 8-digit prefix is
    #: the owning library's own check (torchvision ``<arch>-<sha256 prefix>.pth``,
    #: torch-fidelity / pytorch-fid ``...-6726825d.pth``); the full digests and sizes
    #: agree across several independent public projects that pin these files.
    sha256: str
    size: int
    #: When ``url`` is a zip archive: the name the file has inside it (the last path component; e.g. the
    #: ``end2end.onnx`` of OpenMMLab's ONNX SDK zips). ``sha256`` and ``size`` are then the extracted file's:
    #: no public source gives the archive's own digest, so it is the file taken out of it that is checked.
    member: str = ""


WEIGHTS: dict[str, WeightSpec] = {
    spec.name: spec
    for spec in (
        WeightSpec("inception-fidelity", "weights-inception-2015-12-05-6726825d.pth", "IS, mask-IS, FID (torch-fidelity)",
                   "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/weights-inception-2015-12-05-6726825d.pth",
                   "6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2", 95_628_359),
        WeightSpec("alexnet", "alexnet-owt-7be5be79.pth", "LPIPS, mask-LPIPS (lpips, torchvision AlexNet)",
                   "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth",
                   "7be5be791159472b1fbf3c69796f7cb30dca7ad8466c2df70058c37116cdee02", 244_408_911),
        WeightSpec("vgg19", "vgg19-dcbb9e9d.pth", "perceptual / style / nearest-neighbour losses (torchvision VGG19)",
                   "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth",
                   "dcbb9e9dad569fff7a846263a77324fc34978fea2bfb039c012d710e1776ae44", 574_673_361),
        WeightSpec("resnet50", "resnet50-0676ba61.pth", "re-ID baseline backbone, PoNA Table VI (torchvision ResNet-50, ImageNet)",
                   "https://download.pytorch.org/models/resnet50-0676ba61.pth",
                   "0676ba61b6795bbe1773cffd859882e5e297624d384b6993f7c9e683e722fb8a", 102_530_333),
        # OpenMMLab's RTMPose-m (body7, 256x192) ONNX SDK export, as rtmlib's Body(mode="balanced") fetches it and
        # caches it (``end2end.onnx`` renamed after the archive). The "e48f03d0" in the name is the sha256 prefix
        # of the PyTorch checkpoint it was exported from, not of this file; the digest and size below are the
        # extracted ONNX file's as two independent public projects pin it (one also gives the size).
        WeightSpec("rtmpose-m-body7", "rtmpose-m_simcc-body7_pt-body7_420e-256x192-e48f03d0_20230504.onnx",
                   "PCKh and `bench pose annotate` with --estimator rtmpose (RTMPose-m, COCO-17 keypoints, onnxruntime)",
                   "https://download.openmmlab.com/mmpose/v1/projects/rtmposev1/onnx_sdk/"
                   "rtmpose-m_simcc-body7_pt-body7_420e-256x192-e48f03d0_20230504.zip",
                   "5c0a4bf67953e6d2ac43ce15e77dc9d5d354ae18430a47d2c5963a7bc5683e3c", 54_330_655, member="end2end.onnx"),
    )
}


class WeightsMissing(BenchError):
    pass


class WeightsRefused(BenchError):
    """A file under a weights name that is not the published file: never opened."""


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
    """The verified file of weight ``name``: the first found, checked before anything opens it."""
    path = find(name, weights_dir)
    if path is None:
        raise WeightsMissing(missing_message(name, weights_dir))
    verify(path, WEIGHTS[name])
    return path


def check_file(path: Path, spec: WeightSpec) -> str | None:
    """Why ``path`` is not the published ``spec`` file, or None when it is."""
    size = path.stat().st_size
    if size != spec.size:
        return f"{size:,} bytes, not the published {spec.size:,}"
    digest = sha256(path)
    if digest != spec.sha256:
        return f"sha256 {digest[:16]}..., not the published {spec.sha256[:16]}..."
    return None


def verify(path: Path, spec: WeightSpec) -> None:
    problem = check_file(path, spec)
    if problem:
        raise WeightsRefused(f"{path}: {problem}; refusing to load it (a corrupt or foreign file under the name "
                             f"{spec.filename}): delete it and run `bench weights download {spec.name}`")


@dataclass(frozen=True)
class WeightStatus:
    spec: WeightSpec
    path: Path | None  # where it was found, None when missing
    searched: list[Path]
    problem: str | None = None  # why the file found is refused

    def to_dict(self) -> dict:
        return {
            "name": self.spec.name, "file": self.spec.filename, "used_by": self.spec.used_by,
            "present": self.path is not None, "verified": self.path is not None and self.problem is None,
            "problem": self.problem, "path": str(self.path) if self.path else None,
            "searched": [str(d) for d in self.searched], "url": self.spec.url, "sha256": self.spec.sha256,
        }


def status(weights_dir: str | Path | None = None) -> list[WeightStatus]:
    dirs = search_dirs(weights_dir)
    rows = []
    for spec in WEIGHTS.values():
        path = find(spec.name, weights_dir)
        rows.append(WeightStatus(spec, path, dirs, check_file(path, spec) if path else None))
    return rows


_DIGESTS: dict[tuple[str, int, int], str] = {}  # (path, size, mtime): sha256, so a run hashes each file once


def sha256(path: str | Path) -> str:
    stat = os.stat(path)
    key = (str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _DIGESTS:
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        _DIGESTS[key] = digest.hexdigest()
    return _DIGESTS[key]


def spec_for_file(path: str | Path) -> WeightSpec:
    """The weight a file is, judged by its exact name; BenchError for any other name."""
    path = Path(path)
    for spec in WEIGHTS.values():
        if path.name in (spec.filename, archive_name(spec)):
            return spec
    expected = ", ".join(spec.filename for spec in WEIGHTS.values())
    raise BenchError(f"{path}: not a known weights file name; expected one of {expected}")


def install(path: str | Path, dest: str | Path | None = None) -> Path:
    """Copy a weights file (checked by name, size and sha256) into ``dest``.

    ``dest`` defaults to the hub cache, where the libraries look for it themselves.
    The copy is atomic: an interrupted install leaves no partial file behind.
    """
    from bench.io import atomic_path

    path = Path(path)
    if not path.is_file():
        raise BenchError(f"{path}: no such file")
    spec = spec_for_file(path)
    target = Path(dest or hub_checkpoints()) / spec.filename
    if path.name == archive_name(spec):  # the published archive: the file inside it is what gets checked
        with atomic_path(target) as tmp:
            copy = tmp.with_name(tmp.name + ".zip")
            shutil.copyfile(path, copy)
            try:
                extract_member(copy, spec, tmp, str(path))
            except DownloadFailed as err:
                raise BenchError(str(err).replace("; nothing was written", "; nothing was installed")) from None
            problem = check_file(tmp, spec)
            if problem:
                raise WeightsRefused(f"{path}: its {spec.member} has {problem}; not the published file, nothing was installed")
        return target
    verify(path, spec)
    with atomic_path(target) as tmp:
        shutil.copyfile(path, tmp)
    return target


def archive_name(spec: WeightSpec) -> str | None:
    """The file name of the archive a ``member`` weight is published in (None for a plain file)."""
    return spec.url.rsplit("/", 1)[-1] if spec.member else None


class DownloadFailed(BenchError):
    pass


def source_url(spec: WeightSpec, mirror: str | None = None) -> str:
    """The published URL, or the same file name under ``mirror`` (a local copy of the release folders)."""
    return f"{mirror.rstrip('/')}/{spec.filename}" if mirror else spec.url


def download(name: str, dest: str | Path | None = None, mirror: str | None = None, progress: bool = True) -> Path:
    """Fetch weight ``name`` into ``dest`` (default: the hub cache the libraries read), verified, atomically.

    A file already there and verified is kept. The transfer goes to a temporary
    sibling that is checked (size, full sha256) before it is renamed into place,
    so a refused, truncated or interrupted download leaves nothing at the target.
    """
    import urllib.error

    import torch.hub

    from bench.io import atomic_path

    spec = WEIGHTS[name]
    target = Path(dest or hub_checkpoints()) / spec.filename
    if target.is_file() and check_file(target, spec) is None:
        return target
    url = source_url(spec, mirror)
    with atomic_path(target) as tmp:
        fetched = tmp.with_name(tmp.name + ".zip") if spec.member else tmp
        try:
            torch.hub.download_url_to_file(url, str(fetched), progress=progress)
        except urllib.error.HTTPError as err:
            raise DownloadFailed(f"{url}: HTTP {err.code} {err.reason}; nothing was written") from None
        except (urllib.error.URLError, OSError) as err:
            reason = getattr(err, "reason", None) or err
            raise DownloadFailed(f"{url}: cannot download ({reason}); offline? nothing was written. Fetch it on a "
                                 f"connected machine and run `bench weights install FILE`") from None
        if spec.member:
            extract_member(fetched, spec, tmp, url)
        problem = check_file(tmp, spec)
        if problem:
            raise DownloadFailed(f"{url}: the downloaded file has {problem} (truncated or not the published file); "
                                 "nothing was written")
    return target


def extract_member(archive: Path, spec: WeightSpec, out: Path, url: str) -> None:
    """Write the one archive entry named ``spec.member`` (in any folder) to ``out``, then delete the archive."""
    import zipfile

    try:
        with zipfile.ZipFile(archive) as zf:
            entries = [i for i in zf.infolist() if not i.is_dir() and i.filename.rsplit("/", 1)[-1] == spec.member]
            if len(entries) != 1:
                raise DownloadFailed(f"{url}: the archive holds {len(entries)} files named {spec.member}, not one; "
                                     "nothing was written")
            with zf.open(entries[0]) as src, open(out, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
    except (zipfile.BadZipFile, EOFError, OSError) as err:
        raise DownloadFailed(f"{url}: not a readable zip archive ({err}); truncated? nothing was written") from None
    finally:
        archive.unlink(missing_ok=True)
