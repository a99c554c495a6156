"""Train the re-ID baseline on a list of images, and score it on query/gallery.

Schedule of Person_reID_baseline_pytorch (the ``paper`` profile): SGD, momentum
0.9, Nesterov, weight decay 5e-4, lr 0.05 for the new layers and 0.1x for an
ImageNet backbone, batch 32, 60 epochs with the lr divided by 10 at epoch 40;
augmentation: resize to 256x128, pad 10 + random crop, horizontal flip. The ``cpu``
profile keeps the recipe at 1/8 width, the 128x64 Market size halved, few epochs.
"""
from __future__ import annotations

import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from bench.data.images import load_image
from bench.errors import BenchError
from bench.io import RECORD, atomic_path, atomic_write_json, check_replaceable, device_name, provenance
from bench.reid.evaluate import evaluate_ranking
from bench.reid.market import MarketImage, folder, list_images
from bench.reid.model import ReIDNet, features, init_label

MODEL_FILE, META = "model.pt", "meta.json"


@dataclass(frozen=True)
class ReIDConfig:
    epochs: int = 60
    batch_size: int = 32
    lr: float = 0.05
    backbone_lr_factor: float = 0.1  # ImageNet backbone only; from scratch everything trains at lr
    momentum: float = 0.9
    weight_decay: float = 5e-4
    step_epoch: int = 40
    height: int = 256
    width: int = 128
    pad: int = 10
    width_divisor: int = 1
    init: str = "auto"  # auto: ImageNet weights when present and width_divisor is 1; scratch; imagenet
    seed: int = 0
    threads: int = 0


PROFILES = {  # cpu: the budget of the embedded default (see reid/params.yaml)
    "paper": ReIDConfig(),
    "cpu": ReIDConfig(epochs=6, step_epoch=5, height=64, width=32, pad=4, width_divisor=8, init="scratch", threads=2),
}


def load_batch(paths: list[Path], height: int, width: int) -> torch.Tensor:
    """uint8 files -> (B, 3, height, width) normalised with the ImageNet statistics."""
    from PIL import Image

    arrays = []
    for path in paths:
        image = load_image(path)
        if image.shape[:2] != (height, width):
            image = np.asarray(Image.fromarray(image).resize((width, height), Image.BILINEAR))
        arrays.append(image)
    x = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float() / 255
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    return (x - mean) / std


def _augment(x: torch.Tensor, pad: int, generator: torch.Generator) -> torch.Tensor:
    """Pad + random crop and horizontal flip, per image."""
    b, _, h, w = x.shape
    padded = nn.functional.pad(x, (pad, pad, pad, pad))
    out = torch.empty_like(x)
    offsets = torch.randint(0, 2 * pad + 1, (b, 2), generator=generator)
    flips = torch.rand(b, generator=generator) < 0.5
    for i in range(b):
        dy, dx = int(offsets[i, 0]), int(offsets[i, 1])
        crop = padded[i, :, dy:dy + h, dx:dx + w]
        out[i] = crop.flip(-1) if flips[i] else crop
    return out


def _resolve_init(config: ReIDConfig, weights_dir) -> Path | None:
    from bench.weights import find, require

    if config.init == "scratch":
        return None
    if config.init == "imagenet":
        if config.width_divisor != 1:
            raise BenchError("init=imagenet needs width_divisor 1 (the ImageNet weights are full width)")
        return require("resnet50", weights_dir)
    if config.init != "auto":
        raise BenchError(f"unknown init {config.init!r}; choose auto, imagenet or scratch")
    if config.width_divisor != 1 or find("resnet50", weights_dir) is None:
        return None
    return require("resnet50", weights_dir)  # present: used only once its size and sha256 check out


def train_reid(images: list[tuple[Path, int]], config: ReIDConfig, out: str | Path, weights_dir=None,
               extra: dict | None = None, progress: bool = True) -> dict:
    """Train on (path, person id) items; write OUT/model.pt (state dict + config) and OUT/meta.json."""
    if not images:
        raise BenchError("no training images")
    if config.threads:
        torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    persons = sorted({pid for _, pid in images})
    label = {pid: i for i, pid in enumerate(persons)}
    paths = [p for p, _ in images]
    x_all = load_batch(paths, config.height, config.width)
    y_all = torch.tensor([label[pid] for _, pid in images])
    model = ReIDNet(len(persons), config.width_divisor)
    weights = _resolve_init(config, weights_dir)
    if weights is not None:
        model.load_imagenet(weights)
    backbone_lr = config.lr * (config.backbone_lr_factor if weights is not None else 1.0)
    optimiser = torch.optim.SGD([
        {"params": model.backbone.parameters(), "lr": backbone_lr},
        {"params": [*model.bottleneck.parameters(), *model.classifier.parameters()], "lr": config.lr},
    ], momentum=config.momentum, weight_decay=config.weight_decay, nesterov=True)
    schedule = torch.optim.lr_scheduler.StepLR(optimiser, step_size=config.step_epoch, gamma=0.1)
    generator = torch.Generator().manual_seed(config.seed)
    loss_fn, log, start = nn.CrossEntropyLoss(), [], time.perf_counter()
    for epoch in range(config.epochs):
        model.train()
        order = torch.randperm(len(y_all), generator=generator)
        total, correct = 0.0, 0
        for i in range(0, len(order), config.batch_size):
            idx = order[i:i + config.batch_size]
            if len(idx) < 2:  # BatchNorm needs two samples (the baseline drops the last batch)
                continue
            logits = model(_augment(x_all[idx], config.pad, generator))
            loss = loss_fn(logits, y_all[idx])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            total += float(loss.detach()) * len(idx)
            correct += int((logits.argmax(1) == y_all[idx]).sum())
        schedule.step()
        log.append({"epoch": epoch + 1, "loss": total / len(order), "train_accuracy": correct / len(order)})
        if progress:
            print(f"reid epoch {epoch + 1}/{config.epochs}: loss {log[-1]['loss']:.3f} acc {log[-1]['train_accuracy']:.3f}",
                  file=sys.stderr)
    meta = {"config": asdict(config), "identities": len(persons), "images": len(images),
            "imagenet_weights": str(weights) if weights else None,
            "init_label": init_label(weights is not None, config.width_divisor),
            "seconds": round(time.perf_counter() - start, 1), "log": log, **(extra or {}),
            "provenance": provenance(seed=config.seed, device=device_name("cpu"))}
    with atomic_path(out) as tmp:
        tmp.mkdir()
        torch.save({"model": model.state_dict(), "config": asdict(config), "identities": len(persons)}, tmp / MODEL_FILE)
        atomic_write_json(tmp / META, meta)
    return meta


def load_reid(run: str | Path) -> tuple[ReIDNet, ReIDConfig, dict]:
    import json

    run = Path(run)
    state = torch.load(run / MODEL_FILE, map_location="cpu", weights_only=True)
    config = ReIDConfig(**state["config"])
    model = ReIDNet(int(state["identities"]), config.width_divisor)
    model.load_state_dict(state["model"])
    return model, config, json.loads((run / META).read_text())


def embed_folder(model: ReIDNet, config: ReIDConfig, images: list[MarketImage], root: Path, batch: int = 64) -> torch.Tensor:
    out = []
    for i in range(0, len(images), batch):
        out.append(features(model, load_batch([root / m.name for m in images[i:i + batch]], config.height, config.width)))
    return torch.cat(out)


def evaluate_reid(run: str | Path, dataset_root: str | Path, convention: str = "market") -> dict:
    """Rank-1/5/10 and mAP of a trained run on the dataset's query/ and gallery folders."""
    model, config, meta = load_reid(run)
    if config.threads:
        torch.set_num_threads(config.threads)
    q_dir, g_dir = folder(dataset_root, "query"), folder(dataset_root, "gallery")
    query, gallery = list_images(q_dir), list_images(g_dir)
    qf, gf = embed_folder(model, config, query, q_dir), embed_folder(model, config, gallery, g_dir)
    distance = (-(qf @ gf.T)).numpy()  # cosine similarity of unit features, as the baseline's test.py
    result = evaluate_ranking(distance, [m.person for m in query], [m.camera for m in query],
                              [m.person for m in gallery], [m.camera for m in gallery], convention=convention)
    return {"metrics": result.summary(), "per_query_ap": [round(float(a), 6) for a in result.ap], "queries": result.queries,
            "queries_without_match": result.queries_without_match, "gallery": len(gallery),
            "ap_convention": convention, "init_label": meta["init_label"], "run": str(run), "train": meta}


def training_items(dataset_root: str | Path, kept: list[str], generated: str | Path | None = None) -> list[tuple[Path, int]]:
    """The kept training images plus, if given, every generated image of a folder."""
    train = folder(dataset_root, "train")
    items = [(train / n, MarketImage.parse(n, train).person) for n in kept]
    if generated is not None:
        items += [(Path(generated) / m.name, m.person) for m in list_images(generated)]
    return items


def write_record(run: str | Path, dataset_root: str | Path, out: str | Path, generator: str, p: float,
                 convention: str = "market") -> dict:
    """``bench reid evaluate``: the scores of one (generator, p) cell as a JSON record."""
    check_replaceable(Path(out), as_dir=False, kind=RECORD)
    result = evaluate_reid(run, dataset_root, convention)
    record = {"model": generator, "p": p, "experiment": "li2020pona Table VI (re-ID with generated images)",
              "dataset": {"kind": "market", "root": str(dataset_root), "folder": Path(dataset_root).name},
              **result, "provenance": provenance(device=device_name("cpu"))}
    atomic_write_json(out, record, RECORD)
    return record


def train_cell(dataset_root: str | Path, split_dir: str | Path, out: str | Path, generated: str | Path | None,
               profile: str = "cpu", weights_dir=None, progress: bool = True, **overrides) -> dict:
    """``bench reid train``: the kept images of a split (plus a generated folder) under a profile."""
    from dataclasses import replace

    from bench.reid.split import read_split

    if profile not in PROFILES:
        raise BenchError(f"unknown re-ID profile {profile!r}; choose one of {', '.join(PROFILES)}")
    config = replace(PROFILES[profile], **{k: v for k, v in overrides.items() if v is not None})
    split = read_split(split_dir)
    items = training_items(dataset_root, split.kept, generated)
    if generated is not None and len(items) != len(split.kept) + len(split.removed):
        raise BenchError(f"{generated}: {len(items) - len(split.kept)} generated images, the split removed {len(split.removed)}")
    extra = {"profile": profile, "split": str(split_dir), "p": split.p, "generated": str(generated) if generated else None,
             "kept": len(split.kept), "generated_count": len(items) - len(split.kept)}
    return train_reid(items, config, out, weights_dir=weights_dir, extra=extra, progress=progress)
