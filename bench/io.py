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

# Files cannot carry a marker beside them, so a file output names its kind and an
# existing file is replaced only if it is recognisably that kind of bench output: a
# user's own JSON, CSV, picture or checkpoint at the same path is refused. Images and
# figures bench writes carry this signature (PNG text chunk, JPEG comment, PDF creator).
SIGNATURE = "PoseTransferBench"
RECORD = "a result record"  # evaluate / reid evaluate JSON: an object with its provenance
SCORES = "a scores file"  # the flat {metric: value} JSON beside a record
PER_PAIR = "a per-pair scores file"  # CSV with header from,to,<metrics>
IMAGE = "an image or figure"  # PNG / JPEG / PDF carrying SIGNATURE
POSE_CHECKPOINT = "a pose-estimator checkpoint"  # torch files of {"format": ...} dicts, loadable with weights_only:
GENERATOR_CHECKPOINT = "an imported generator checkpoint"  # told apart by their format


def _json_object(path: Path) -> dict | None:
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return obj if isinstance(obj, dict) else None


def _is_record(path: Path) -> bool:
    obj = _json_object(path)
    return obj is not None and isinstance(obj.get("provenance"), dict)


def _is_scores(path: Path) -> bool:
    obj = _json_object(path)
    return obj is not None and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in obj.values())


def _is_per_pair(path: Path) -> bool:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.readline().startswith("from,to")
    except (OSError, ValueError):
        return False


def _is_image(path: Path) -> bool:
    try:
        if path.suffix.lower() == ".pdf":
            return SIGNATURE.encode() in path.read_bytes()
        from PIL import Image

        with Image.open(path) as image:
            info = image.info
    except Exception:  # noqa: BLE001 - anything unreadable is not a bench image
        return False
    comment = info.get("comment", b"")
    return info.get("Software") == SIGNATURE or (comment.decode("latin-1") if isinstance(comment, bytes) else comment) == SIGNATURE


def _checkpoint_format(path: Path) -> object:
    import zipfile

    if not zipfile.is_zipfile(path):
        return None
    import torch

    try:  # weights_only: recognising a file never runs code from it
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # noqa: BLE001 - a foreign or broken file is simply not ours
        return None
    return state.get("format") if isinstance(state, dict) else None


FILE_KINDS = {RECORD: _is_record, SCORES: _is_scores, PER_PAIR: _is_per_pair, IMAGE: _is_image,
              POSE_CHECKPOINT: lambda p: str(_checkpoint_format(p)).startswith("bench-pose-"),
              GENERATOR_CHECKPOINT: lambda p: str(_checkpoint_format(p)).startswith("posetransferbench-generator/")}


def output_kind(folder: Path) -> str | None:
    try:
        return (folder / OUTPUT_MARKER).read_text().split("\n", 1)[0].strip()
    except OSError:
        return None


def _is_folder_kind(kind: str) -> bool:
    return kind not in FILE_KINDS and kind != "output"


def check_replaceable(path: Path, as_dir: bool, kind: str = "output", legacy: frozenset[str] = frozenset()) -> None:
    """Refuse to replace ``path`` unless bench wrote it as this same kind of output.

    A folder is replaceable only if it is empty or carries :data:`OUTPUT_MARKER` of
    ``kind`` (or, with no marker, holds only the file names in ``legacy``: a run
    folder from before markers); a file only if it is recognisably ``kind``
    (:data:`FILE_KINDS`; the internal kind ``"output"`` checks no content); a folder
    is never replaced by a file, nor a file by a folder.
    """
    from bench.errors import BenchError

    path = Path(path)
    if not os.path.lexists(path):
        parent = next((p for p in path.parents if os.path.lexists(p)), None)
        if parent is not None and not parent.is_dir():
            raise BenchError(f"{path}: its parent {parent} is a file, not a folder")
        return
    if path.is_dir() and not path.is_symlink():
        if not as_dir:
            raise BenchError(f"{path}: is a folder; give a file path for this output")
        found = output_kind(path)
        try:
            names = {p.name for p in path.iterdir()}
        except OSError as err:
            raise BenchError(f"{path}: cannot read this folder ({err.strerror})") from None
        if found is None and names and not names <= legacy:
            raise BenchError(f"{path}: exists and was not written by bench (no {OUTPUT_MARKER}); "
                             "refusing to replace it: choose another output path or remove it yourself")
        if found is not None and found != kind:
            raise BenchError(f"{path}: holds {found}, not {kind}; refusing to replace it: choose another output path")
    elif as_dir:
        raise BenchError(f"{path}: is a file; this output is a folder")
    elif kind in FILE_KINDS and not FILE_KINDS[kind](path):
        raise BenchError(f"{path}: exists and is not {kind} written by bench; refusing to replace it: "
                         "choose another output path or remove it yourself")


def claim_folder(path: str | Path, kind: str, legacy: frozenset[str] = frozenset()) -> Path:
    """Make ``path`` a folder bench writes in place (a training run, which resumes there) as ``kind``.

    The same guard as :func:`atomic_path`, before any work: an existing folder must be
    empty, marked as ``kind``, or hold only ``legacy`` names; it then gets the marker.
    """
    from bench.errors import BenchError

    path = Path(path)
    _make_parent(path)
    check_replaceable(path, as_dir=True, kind=kind, legacy=legacy)
    try:
        path.mkdir(exist_ok=True)
        if output_kind(path) != kind:
            (path / OUTPUT_MARKER).write_text(f"{kind}\nwritten by PoseTransferBench, which may write into it as {kind}\n")
    except OSError as err:
        raise BenchError(f"{path}: cannot write this folder ({err.strerror})") from None
    return path


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
        check_replaceable(path, as_dir=_is_folder_kind(kind), kind=kind)
    clean_stale_temporaries(path)
    tmp = _temporary(path, ".tmp")
    target = tmp / path.name
    try:
        yield target
        if not target.exists():
            raise FileNotFoundError(f"nothing was written for {path}")
        check_replaceable(path, as_dir=target.is_dir(), kind=kind)
        if target.is_dir():
            (target / OUTPUT_MARKER).write_text(f"{kind}\nwritten by PoseTransferBench, which may replace it with {kind}\n")
        _put_in_place(target, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _temporary(path: Path, suffix: str) -> Path:
    """A hidden folder beside ``path`` (the parent may exist and still refuse writes: a read-only mount, /proc)."""
    from bench.errors import BenchError

    try:
        return Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent))
    except OSError as err:
        raise BenchError(f"{path}: cannot write in the folder {path.parent} ({err.strerror})") from None


def _put_in_place(target: Path, path: Path) -> None:
    from bench.errors import BenchError

    try:
        if path.is_dir() and not path.is_symlink():
            old = _temporary(path, ".old")
            os.replace(path, old / path.name)
            os.replace(target, path)
            shutil.rmtree(old)
        else:
            os.replace(target, path)
    except OSError as err:
        raise BenchError(f"{path}: cannot put the output in place ({err.strerror})") from None


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


def atomic_write_text(path: str | Path, text: str, kind: str = "output") -> None:
    with atomic_path(path, kind) as tmp:
        tmp.write_text(text)


def atomic_write_bytes(path: str | Path, data: bytes, kind: str = "output") -> None:
    with atomic_path(path, kind) as tmp:
        tmp.write_bytes(data)


def atomic_write_json(path: str | Path, obj: Any, kind: str = "output") -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False, allow_nan=False) + "\n", kind)


def read_text(path: str | Path, what: str = "file") -> str:
    """A UTF-8 text file; a missing file, a folder, a byte-order mark or bytes that are not UTF-8 are one
    :class:`~bench.errors.DataError` naming the file (and the line)."""
    from bench.errors import DataError

    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DataError(path, f"{what} does not exist") from None
    except IsADirectoryError:
        raise DataError(path, f"is a folder, not a {what}") from None
    except OSError as err:
        raise DataError(path, f"cannot read {what}: {err.strerror}") from None
    if data.startswith(b"\xef\xbb\xbf"):
        raise DataError(path, "starts with a UTF-8 byte-order mark (BOM), which the original readers do not expect; "
                              "save the file as UTF-8 without BOM", 1)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise DataError(path, f"byte {data[err.start]:#04x} is not UTF-8 text; the file must be UTF-8", line) from None


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
