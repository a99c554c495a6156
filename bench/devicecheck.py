"""The prepared device check (scripts/device-check.sh): paper-size speed on one accelerator.

Two tables, both at the published size (width 1):

* inference: PoNA Table II's models, batch 1 on DeepFashion 256x176, warm-up first,
  the device synchronised before each clock read (``bench.models.profile``);
* training: every trainable model on Market 128x64 for ``steps`` trainer iterations
  after ``warmup`` (the trainer's own ``train_step``; G step then D steps) at the
  paper profile's batch size, reporting iterations per second and peak device memory.

The training batches are random images with a standing person's keypoints; the loss
terms that need VGG19 weights are off (the `cpu` profile's model options minus its
width), so the figures time the architectures, not a training run. Multi-source
models see one source per item. On CPU (``--cpu``) the batch is 1 and memory is the
process's peak resident set.
"""
from __future__ import annotations

import resource
import sys
import time
from dataclasses import dataclass
from typing import Any

import torch

from bench.train.distributed import synchronize

TABLE_II = ("pg2", "vunet", "def-gan", "patn", "pona", "pona-b2")


@dataclass(frozen=True)
class CheckConfig:
    device: str = "cuda"
    steps: int = 5
    warmup: int = 2
    fps_iters: int = 20
    models: tuple[str, ...] | None = None  # None: every trainable model
    amp: str = "off"


def _peak_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def inference_rows(cfg: CheckConfig) -> list[dict[str, Any]]:
    from bench.models.profile import profile

    rows = []
    for name in TABLE_II:
        result = profile(name, "deepfashion", cfg.device, batch=1, iters=cfg.fps_iters, warmup=cfg.warmup, progress=False)
        rows.append({"model": name, "params_m": result["params"]["generator"] / 1e6, "fps": result["fps"],
                     "ms": 1000 * result["seconds_per_batch"]})
        print(f"device-check: {name} {result['fps']:.1f} fps", file=sys.stderr, flush=True)
    return rows


def _training_config(name: str, cfg: CheckConfig):
    from bench.models import list_models
    from bench.train.config import TrainConfig, load_config

    cpu = load_config(name, "market", "cpu", models=list_models())
    paper = load_config(name, "market", "paper", models=list_models())
    model = {k: v for k, v in cpu.model.items() if k != "width"}  # published size, VGG terms as on CPU
    batch = paper.batch_size if torch.device(cfg.device).type == "cuda" else 1
    values = {**paper.to_dict(), "model": model, "batch_size": batch, "device": cfg.device, "amp": cfg.amp,
              "iterations": cfg.steps + cfg.warmup, "niter": cfg.steps + cfg.warmup, "niter_decay": 0,
              "val_every": 0, "num_workers": 0, "lr_step_every": 0}
    return TrainConfig.from_dict(values)


def training_row(name: str, cfg: CheckConfig) -> dict[str, Any]:
    from bench.models import count_parameters, create_model
    from bench.models.profile import random_batch
    from bench.train.trainer import Trainer

    config = _training_config(name, cfg)
    torch.manual_seed(0)
    model = create_model(name, "market", **config.model)
    trainer = Trainer(model, _OneItem(), config, progress=False)
    batch = random_batch(config.batch_size, (128, 64), trainer.device)
    device = trainer.device
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    for _ in range(cfg.warmup):
        trainer.train_step(batch)
    synchronize(device)
    start = time.perf_counter()
    for _ in range(cfg.steps):
        trainer.train_step(batch)
    synchronize(device)
    seconds = time.perf_counter() - start
    return {"model": name, "batch": config.batch_size, "g_params_m": count_parameters(model.generator) / 1e6,
            "it_per_s": cfg.steps / seconds, "peak_mb": _peak_mb(device)}


class _OneItem(torch.utils.data.Dataset):
    """The trainer wants a dataset for its sampler; the check feeds batches itself."""

    def __len__(self) -> int:
        return 1


def run(cfg: CheckConfig) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    from bench.registry import MODELS

    names = cfg.models or tuple(n for n in MODELS.names() if MODELS.get(n).meta.trainable)
    inference = inference_rows(cfg)
    training = []
    for name in names:
        training.append(training_row(name, cfg))
        row = training[-1]
        print(f"device-check: {name} {row['it_per_s']:.2f} it/s at batch {row['batch']}", file=sys.stderr, flush=True)
        if torch.device(cfg.device).type == "cuda":
            torch.cuda.empty_cache()
    return inference, training


def markdown(cfg: CheckConfig, inference: list[dict[str, Any]], training: list[dict[str, Any]]) -> str:
    from bench.io import device_name

    lines = [f"Device: {device_name(cfg.device)}; torch {torch.__version__}; amp {cfg.amp}", "",
             "Inference, DeepFashion 256x176, batch 1 (PoNA Table II)", "",
             "| model | G params (M) | fps | ms |", "|---|---:|---:|---:|"]
    lines += [f"| {r['model']} | {r['params_m']:.2f} | {r['fps']:.1f} | {r['ms']:.1f} |" for r in inference]
    lines += ["", f"Training, Market 128x64, paper batch size, {cfg.steps} iterations after {cfg.warmup} warm-up", "",
              "| model | batch | G params (M) | it/s | peak memory (MiB) |", "|---|---:|---:|---:|---:|"]
    lines += [f"| {r['model']} | {r['batch']} | {r['g_params_m']:.2f} | {r['it_per_s']:.2f} | {r['peak_mb']:.0f} |"
              for r in training]
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpu", action="store_true", help="run on CPU (batch 1) to show the check works")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--model", action="append", help="only these models (repeatable)")
    parser.add_argument("--amp", default="off", choices=("off", "bf16", "fp16"))
    args = parser.parse_args(argv)
    cfg = CheckConfig(device="cpu" if args.cpu else "cuda", steps=args.steps,
                      models=tuple(args.model) if args.model else None, amp=args.amp,
                      fps_iters=3 if args.cpu else 20)
    if cfg.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("error: no CUDA device here; pass --cpu to run the check on the CPU")
    inference, training = run(cfg)
    print(markdown(cfg, inference, training))


if __name__ == "__main__":
    main(sys.argv[1:])
