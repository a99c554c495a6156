"""Generate the test-split images of a model: one PNG per pair, in pair order.

Output folder (written atomically: it appears complete or not at all)::

    OUT/{from}___{to}.png   generated target of each test pair (PATN's name stem)
    OUT/generation.json     model, checkpoint, dataset, pairs file, count, provenance

With n sources (``bench generate --sources n``) the items are the tuples of a
multi-source file and the names are their pair keys, ``{from_key}___{to}.png``
(``bench.data.multisource``: ``from_1``, or ``from_1~m`` on the m-th row, m >= 2,
with the same (from_1, to)).

Conversion to uint8, after clamping to [-1, 1], is a named option:

* ``round`` (default): ``round((x + 1) / 2 * 255)``, which inverts the loader's
  ``x = (v / 255 - 0.5) / 0.5`` exactly, so ``source-copy`` reproduces its input;
* ``truncate``: PATN's ``util.tensor2im`` (``astype(uint8)`` of the same value),
  which in float32 lands one level low for most inputs (189 of 256 values).

Images are saved as lossless PNG; PATN saved JPEG strips, which the evaluation can emulate.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from bench.data.naming import pair_image_name
from bench.errors import BenchError, DataError
from bench.io import atomic_path, atomic_write_json, device_name, provenance
from bench.models.base import PoseTransferModel
from bench.train.checkpoint import load_checkpoint
from bench.train.trainer import CHECKPOINT, FINAL, to_device
from bench.train.validation import BEST

MANIFEST = "generation.json"
CONVERSIONS = {
    "round": "uint8 = round((clamp(x, -1, 1) + 1) / 2 * 255)",
    "truncate": "uint8 = floor((clamp(x, -1, 1) + 1) / 2 * 255) (PATN util.tensor2im)",
}


image_name = pair_image_name  # the name rule lives in bench.data.naming


def to_uint8(images: torch.Tensor, conversion: str = "round") -> np.ndarray:
    """(B, 3, H, W) in [-1, 1] -> (B, H, W, 3) uint8 (see ``CONVERSIONS``)."""
    if conversion not in CONVERSIONS:
        raise BenchError(f"unknown uint8 conversion {conversion!r}; choose one of {', '.join(CONVERSIONS)}")
    scaled = (images.detach().float().clamp(-1, 1) + 1) / 2 * 255
    if conversion == "round":
        scaled = scaled.round()
    return scaled.to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()


def checkpoint_file(path: str | Path) -> Path:
    """A run folder or a checkpoint file. A folder gives the checkpoint validation selected
    (``best.pt``, :mod:`bench.train.validation`), else its final ``model.pt``, else the latest ``checkpoint.pt``."""
    path = Path(path)
    if path.is_dir():
        for name in (BEST, FINAL, CHECKPOINT):
            if (path / name).is_file():
                return path / name
        raise DataError(path, f"no {BEST}, {FINAL} or {CHECKPOINT} in this run folder")
    return path


def load_trained(path: str | Path, dataset_kind: str | None = None) -> tuple[PoseTransferModel, dict[str, Any]]:
    """Rebuild a trained model from a checkpoint (its spec names the model, dataset and options)."""
    from bench.models import create_model

    path = checkpoint_file(path)
    state = load_checkpoint(path)
    spec = state.get("spec") or {}
    if "model" not in spec:
        raise DataError(path, "checkpoint does not say which model it holds (no spec)")
    if dataset_kind is not None and spec.get("dataset") != dataset_kind:
        raise DataError(path, f"checkpoint was trained on {spec.get('dataset')!r} data, not {dataset_kind!r}")
    model = create_model(spec["model"], spec["dataset"], **spec.get("model_options", {}))
    model.load_state_dict(state["model"])
    return model, {"checkpoint": str(path), "step": int(state["step"]), **spec}


def pin_stage(model: PoseTransferModel, stage: int) -> None:
    """Make a staged model (PG2, VDG and their mUNet variants: ``config.stage``) output stage ``stage``.

    Lakhal et al. Table 3 scores VDG's Stage I output alone: the trained model with its
    Stage I image as the output (``forward`` returns G1's image when the stage is pinned to 1).
    """
    import dataclasses

    config = getattr(model, "config", None)
    if config is None or not dataclasses.is_dataclass(config) or not hasattr(config, "stage"):
        raise BenchError(f"{getattr(model, 'name', type(model).__name__)} has no stages: "
                         "--stage applies to staged models (pg2, vdg and their variants)")
    pinned = dataclasses.replace(config, stage=stage)
    if hasattr(model, "check_config"):
        model.check_config(pinned)
    model.config = pinned


def generate(
    model: PoseTransferModel,
    dataset: Dataset,
    out: str | Path,
    *,
    batch_size: int = 8,
    device: str | torch.device = "cpu",
    num_workers: int = 0,
    progress: bool = True,
    conversion: str = "round",
    info: dict[str, Any] | None = None,
    names: Sequence[str] | None = None,
    naming: str = "{from}___{to}.png, in pair order",
) -> Path:
    """Write ``model``'s output for every item of ``dataset`` (in order) to the folder ``out``.

    ``names`` (one file name per item, in order) replaces ``{from}___{to}.png``;
    ``naming`` describes the rule in ``generation.json``.
    """
    from tqdm import tqdm

    from bench.data.dataset import collate

    pairs = getattr(dataset, "pairs", None)
    if pairs is not None and names is None and len(set(pairs)) != len(pairs):
        raise BenchError("the test pairs contain duplicates: their output files would collide")
    if names is not None and (len(names) != len(dataset) or len(set(names)) != len(names)):
        raise BenchError(f"need {len(dataset)} distinct output names, got {len(names)} ({len(set(names))} distinct)")
    if conversion not in CONVERSIONS:
        raise BenchError(f"unknown uint8 conversion {conversion!r}; choose one of {', '.join(CONVERSIONS)}")
    device = torch.device(device)
    model = model.to(device).eval()
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers, collate_fn=collate)
    count = 0
    with atomic_path(out, kind="generated images") as tmp:
        tmp.mkdir()
        with torch.no_grad():
            for batch in tqdm(loader, desc="generate", unit="batch", disable=not progress):
                fake = model(to_device(batch, device))
                for src, tgt, image in zip(batch["from"], batch["to"], to_uint8(fake, conversion)):
                    _save_png(tmp / (names[count] if names is not None else image_name(src, tgt)), image)
                    count += 1
        atomic_write_json(tmp / MANIFEST, {
            **(info or {}),
            "count": count,
            "names": naming,
            "format": "png",
            "conversion": conversion,
            "conversion_rule": CONVERSIONS[conversion],
            "provenance": provenance(device=device_name(str(device))),
        })
    return Path(out)


def _save_png(path: Path, image: np.ndarray) -> None:
    from PIL import Image

    Image.fromarray(image).save(path, format="PNG")
