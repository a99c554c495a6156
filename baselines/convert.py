"""The authors' released generator checkpoints, converted to ours (``bench import``).

An original checkpoint (tengteng95/Pose-Transfer, Zhangjinso/PoNA) is a plain
state dict of ``netG`` saved as ``<epoch>_net_netG.pth``. Its keys are ours with
the ``model.`` prefix of the ``PATNetwork`` / ``PoNANetwork`` wrapper (our
generators keep the original module names and layer indices), plus ``module.``
in front when it was saved from ``DataParallel``.

Two PyTorch 0.3 leftovers are accepted and recorded in the output's ``notes``:
``running_mean``/``running_var`` of affine-free InstanceNorm layers (unused since
PyTorch 0.4, dropped) and missing BatchNorm ``num_batches_tracked`` counters
(set to 0). Any other unknown or missing key, or a shape mismatch, is an error
that lists the keys.

Our checkpoint is a dict loadable with ``torch.load(weights_only=True)``: the
registered model name, dataset and config to rebuild the model, and the
generator's state dict under ``"generator"``.
"""
from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from bench.errors import DataError
from bench.io import GENERATOR_CHECKPOINT, atomic_path, check_replaceable, provenance

FORMAT = "posetransferbench-generator/1"
WRAPPER_PREFIX = "model."
_SHOWN = 20


def original_key(key: str) -> str:
    """The original code's name of one of our generator's state-dict keys."""
    return WRAPPER_PREFIX + key


def _listing(keys: list[str]) -> str:
    shown = ", ".join(keys[:_SHOWN])
    return shown + (f", ... ({len(keys) - _SHOWN} more)" if len(keys) > _SHOWN else "")


def _is_instance_norm(generator: nn.Module, key: str) -> bool:
    owner = key.rsplit(".", 1)[0]
    try:
        return isinstance(generator.get_submodule(owner), nn.InstanceNorm2d)
    except AttributeError:
        return False


def convert_state_dict(original: Mapping[str, Any], generator: nn.Module, source: str | Path = "<state dict>") -> tuple[dict[str, torch.Tensor], list[str]]:
    """Map an original ``netG`` state dict onto ``generator``'s keys; returns (state dict, notes)."""
    ours = generator.state_dict()
    renamed: dict[str, torch.Tensor] = {}
    foreign: list[str] = []
    for key, value in original.items():
        if not isinstance(value, torch.Tensor):
            raise DataError(source, f"entry {key!r} is a {type(value).__name__}, not a tensor; expected a plain netG state dict")
        bare = key.removeprefix("module.")
        if bare.startswith(WRAPPER_PREFIX):
            renamed[bare.removeprefix(WRAPPER_PREFIX)] = value
        else:
            foreign.append(key)

    notes = []
    stale = [k for k in renamed if k not in ours and k.endswith((".running_mean", ".running_var")) and _is_instance_norm(generator, k)]
    if stale:
        notes.append(f"dropped {len(stale)} InstanceNorm running-stat buffers (PyTorch 0.3 checkpoint; unused without affine/stat tracking)")
    counters = [k for k in ours if k.endswith(".num_batches_tracked") and k not in renamed]
    if counters:
        notes.append(f"set {len(counters)} missing BatchNorm num_batches_tracked counters to 0 (PyTorch 0.3 checkpoint)")

    unknown = foreign + sorted(original_key(k) for k in set(renamed) - set(ours) - set(stale))
    missing = sorted(original_key(k) for k in set(ours) - set(renamed) - set(counters))
    problems = []
    if unknown:
        problems.append(f"{len(unknown)} unknown key(s): {_listing(unknown)}")
    if missing:
        problems.append(f"{len(missing)} missing key(s): {_listing(missing)}")
    if problems:
        raise DataError(source, "does not match the generator; " + "; ".join(problems)
                        + " (is it a netG checkpoint of this model, dataset/norm, number of blocks and dropout setting?)")
    wrong = [f"{original_key(k)} {tuple(renamed[k].shape)} != {tuple(v.shape)}" for k, v in ours.items()
             if k in renamed and renamed[k].shape != v.shape]
    if wrong:
        raise DataError(source, f"{len(wrong)} tensor(s) have the wrong shape: {_listing(wrong)}")

    converted = {k: renamed[k] if k in renamed else torch.zeros_like(v) for k, v in ours.items()}
    return converted, notes


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_original(path: str | Path) -> Mapping[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "checkpoint file does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # unpickling errors come in many types
        raise DataError(path, f"cannot be read as a PyTorch state dict ({type(err).__name__}: {err})") from None
    if not isinstance(state, Mapping):
        raise DataError(path, f"holds a {type(state).__name__}, not a state dict")
    return state


def import_checkpoint(name: str, checkpoint: str | Path, dataset: str, out: str | Path, **config: Any) -> dict[str, Any]:
    """Convert an original checkpoint of registered model ``name`` and save ours at ``out`` (atomically)."""
    from bench.models import create_model

    checkpoint = Path(checkpoint)
    check_replaceable(Path(out), as_dir=False, kind=GENERATOR_CHECKPOINT)  # before the (slow) model build
    model = create_model(name, dataset, **config)
    converted, notes = convert_state_dict(read_original(checkpoint), model.generator, checkpoint)
    model.generator.load_state_dict(converted, strict=True)
    record = {
        "format": FORMAT,
        "model": name,
        "dataset": dataset,
        "config": dataclasses.asdict(model.config) if dataclasses.is_dataclass(getattr(model, "config", None)) else dict(config),
        "generator": model.generator.state_dict(),
        "source": {"path": str(checkpoint), "sha256": _sha256(checkpoint)},
        "notes": notes,
        "provenance": provenance(command="bench import"),
    }
    with atomic_path(out, GENERATOR_CHECKPOINT) as tmp:
        torch.save(record, tmp)
    return {"model": name, "dataset": dataset, "out": str(out), "tensors": len(converted), "notes": notes}


def load_generator(path: str | Path, device: str | torch.device = "cpu"):
    """Rebuild the model saved by :func:`import_checkpoint`, generator weights loaded, in eval mode."""
    from bench.models import create_model

    path = Path(path)
    record = read_original(path)
    if record.get("format") != FORMAT:
        raise DataError(path, f"not a {FORMAT} checkpoint (format: {record.get('format')!r}); convert original checkpoints with `bench import`")
    model = create_model(record["model"], record["dataset"], **record["config"])
    model.generator.load_state_dict(record["generator"])
    return model.to(device).eval()
