"""Atomic file writes and the provenance block every output carries."""
from __future__ import annotations

import contextlib
import datetime as _dt
import glob
import json
import os
import platform
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any


# Every folder `atomic_path` puts in place carries this marker, holding the kind of
# output it is: a folder without it was not written by bench (a dataset, the user's
# results), and one of another kind (a synthetic dataset given as --out of generate)
# is never replaced.
OUTPUT_MARKER = ".bench-output"


def output_kind(folder: Path) -> str | None:
    try:
        return (folder / OUTPUT_MARKER).read_text().split("\n", 1)[0].strip()
    except OSError:
        return None


def check_replaceable(path: Path, as_dir: bool, kind: str = "output") -> None:
    """Refuse to replace ``path`` unless bench wrote it as this same kind of output.

    A folder is replaceable only if it is empty or carries :data:`OUTPUT_MARKER`;
    a folder is never replaced by a file, nor a file by a folder. (Which files a
    command may write, e.g. only ``*.json`` records, its own options check.)
    """
    from bench.errors import BenchError

    if not os.path.lexists(path):
        if path.parent.exists() and not path.parent.is_dir():
            raise BenchError(f"{path}: its parent {path.parent} is a file, not a folder")
        return
    if path.is_dir() and not path.is_symlink():
        if not as_dir:
            raise BenchError(f"{path}: is a folder; give a file path for this output")
        found = output_kind(path)
        if any(path.iterdir()) and found is None:
            raise BenchError(f"{path}: exists and was not written by bench (no {OUTPUT_MARKER}); "
                             "refusing to replace it: choose another output path or remove it yourself")
        if found is not None and found != kind:
            raise BenchError(f"{path}: holds {found}, not {kind}; refusing to replace it: choose another output path")
    elif as_dir:
        raise BenchError(f"{path}: is a file; this output is a folder")


def _make_parent(path: Path) -> None:
    from bench.errors import BenchError

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise BenchError(f"{path}: a parent of this path is a file, not a folder") from None
    except PermissionError:
        raise BenchError(f"{path}: cannot create the folder {path.parent} (permission denied)") from None
    if not os.access(path.parent, os.W_OK | os.X_OK):
        raise BenchError(f"{path}: the folder {path.parent} is not writable")


@contextlib.contextmanager
def atomic_path(path: str | Path, kind: str = "output") -> Iterator[Path]:
    """Yield a temporary sibling of ``path``; rename it onto ``path`` on success.

    Works for files and directories: whatever the block writes at the yielded
    path replaces ``path`` only if the block finishes without an exception, so
    an interrupted or failed command never leaves half-written results. What it
    would replace must be an earlier output of the same ``kind`` (:func:`check_replaceable`);
    the check runs before and again after the block, which may take minutes.
    """
    path = Path(path)
    _make_parent(path)
    if path.is_dir() and not path.is_symlink():
        check_replaceable(path, as_dir=True, kind=kind)
    elif path.exists():
        check_replaceable(path, as_dir=False)
    clean_stale_temporaries(path)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    target = tmp / path.name
    try:
        yield target
        if not target.exists():
            raise FileNotFoundError(f"nothing was written for {path}")
        check_replaceable(path, as_dir=target.is_dir(), kind=kind)
        if target.is_dir():
            (target / OUTPUT_MARKER).write_text(f"{kind}\nwritten by PoseTransferBench, which may replace it with {kind}\n")
        if path.is_dir() and not path.is_symlink():
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old", dir=path.parent))
            os.replace(path, old / path.name)
            os.replace(target, path)
            shutil.rmtree(old)
        else:
            os.replace(target, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def clean_stale_temporaries(path: str | Path) -> list[Path]:
    """Remove the hidden ``.NAME.*.tmp`` / ``.old`` folders a killed :func:`atomic_path` left beside ``path``."""
    path = Path(path)
    if not path.parent.is_dir():
        return []
    # tempfile.mkdtemp puts 8 random characters between prefix and suffix.
    stale = [p for suffix in (".tmp", ".old") for p in path.parent.glob(f".{glob.escape(path.name)}.{'?' * 8}{suffix}")
             if p.is_dir()]
    for p in stale:
        shutil.rmtree(p, ignore_errors=True)
    return stale


def atomic_write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_json(path: str | Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False, allow_nan=False) + "\n")


# `bench evaluate` writes RESULT.json (the record) and, beside it, RESULT.scores.json:
# the flat {metric: value} file DVC tracks as metrics. Readers of records skip the latter.
SCORES_SUFFIX = ".scores.json"


def record_files(folder: str | Path) -> list[Path]:
    """The evaluation records under ``folder`` (every ``*.json`` but the flat scores files), sorted."""
    return [p for p in sorted(Path(folder).rglob("*.json")) if not p.name.endswith(SCORES_SUFFIX)]


def git_commit(cwd: str | Path | None = None) -> str | None:
    """The current commit (with ``-dirty`` if the tree has changes), or None outside git."""
    cwd = cwd or Path(__file__).resolve().parent
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd, capture_output=True, text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return sha + ("-dirty" if dirty else "")


_TRACKED_PACKAGES = ("torch", "torchvision", "numpy", "scikit-image", "scipy", "torch-fidelity", "lpips", "pillow")


def library_versions(packages: tuple[str, ...] = _TRACKED_PACKAGES) -> dict[str, str | None]:
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in packages:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {**versions, **jpeg_decoder()}


def jpeg_decoder() -> dict[str, str | None]:
    """The JPEG decoder behind Pillow: it decides numbers (the same JPEG decoded by Pillow 6.2 and
    Pillow 13 differs in 36% of values, moving per-image SSIM by up to 0.03), so records carry it."""
    from PIL import features

    turbo = features.version_feature("libjpeg_turbo") if features.check_feature("libjpeg_turbo") else None
    return {"libjpeg": features.version("jpg"), "libjpeg-turbo": turbo}


def device_name(device: str | None = None) -> str:
    """A human-readable name of the device that produced a number."""
    import torch

    if device and device.startswith("cuda") and torch.cuda.is_available():
        return torch.cuda.get_device_name(torch.device(device))
    return f"cpu: {platform.processor() or platform.machine()} ({os.cpu_count()} cores, {torch.get_num_threads()} threads)"


def provenance(**extra: Any) -> dict[str, Any]:
    """What produced an output: commit, versions, time, plus caller fields (seed, protocol, device...)."""
    return {
        "git_commit": git_commit(),
        "versions": library_versions(),
        "timestamp": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        **extra,
    }
