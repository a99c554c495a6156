"""DVC stage ``profile@<model>``: parameters and batch-1 fps, as PoNA Table II.

Writes ``results/profile/<device tag>/<model>.json`` shaped like an evaluation
record (metrics ``params_m`` = generator parameters in millions, ``fps``), so the
report renders it beside the published Table II. The device tag in the path
(params.yaml ``profile_models.device_tag``) keeps numbers of one machine from
ever being reused for another; the record also names the device it ran on.

    python -m pipelines.profile MODEL
"""
from __future__ import annotations

import sys
from pathlib import Path

from bench.errors import BenchError
from bench.io import atomic_write_json
from bench.models.profile import profile
from pipelines.common import read_params


def main(model: str) -> None:
    cfg = read_params()["profile_models"]
    result = profile(model, dataset=cfg["dataset"], device=cfg["device"], iters=cfg["iters"],
                     warmup=cfg["warmup"], progress=sys.stderr.isatty())
    record = {
        "model": model,
        "dataset": {"kind": cfg["dataset"], "image_size": result["image_size"]},
        "protocol": {"name": "paper"},
        "metrics": {
            "params_m": {"value": result["params"]["generator"] / 1e6, "reason": None, "higher_is_better": False},
            "fps": {"value": result["fps"], "reason": None, "higher_is_better": True},
        },
        "profile": result,
    }
    atomic_write_json(Path("results/profile") / cfg["device_tag"] / f"{model}.json", record)


if __name__ == "__main__":
    try:
        main(sys.argv[1])
    except BenchError as err:
        raise SystemExit(f"error: {err}") from None
