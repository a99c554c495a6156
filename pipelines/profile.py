"""DVC stage ``profile``: parameters and batch-1 fps, as PoNA Table II.

Every model of params.yaml ``profile_models`` is timed in one process, in interleaved
rounds (bench/models/profile.py), so the Table II ratios are measured side by side.
Writes ``results/profile/<device tag>/<model>.json`` shaped like an evaluation
record (metrics ``params_m`` = generator parameters in millions, ``fps``), so the
report renders it beside the published Table II (and ``time_ms``, milliseconds per
sample, beside Lakhal et al.'s Sec. 3 timings of VDG with and without mUNet masks). The device tag in the path
(params.yaml ``profile_models.device_tag``) keeps numbers of one machine from
ever being reused for another; the record also names the device it ran on.

    python -m pipelines.profile
"""
from __future__ import annotations

import sys
from pathlib import Path

from bench.errors import BenchError
from bench.metrics.specs import quantity
from bench.models.profile import profile_interleaved
from bench.results import SCHEMA_VERSION, MetricEntry, Record, write_record
from pipelines.common import read_params


def record(model: str, result: dict) -> Record:
    """The profile result as an evaluation record (what the report reads); directions from the specs."""
    values = {
        "params_m": result["params"]["generator"] / 1e6,
        "fps": result["fps"],
        "time_ms": 1000 * result["seconds_per_batch"] / result["batch"],  # Lakhal et al. Sec. 3's "time per sample"
    }
    return Record.from_dict({
        "record_version": SCHEMA_VERSION,
        "model": model,
        "dataset": {"kind": result["dataset"], "image_size": result["image_size"]},
        "protocol": {"name": "paper"},
        "metrics": {name: MetricEntry(value, higher_is_better=quantity(name).higher_is_better).to_dict()
                    for name, value in values.items()},
        "profile": result,
    })


def main() -> None:
    cfg = read_params()["profile_models"]
    results = profile_interleaved(cfg["models"], dataset=cfg["dataset"], device=cfg["device"], iters=cfg["iters"],
                                  warmup=cfg["warmup"], rounds=cfg["rounds"], progress=sys.stderr.isatty())
    for result in results:
        write_record(Path("results/profile") / cfg["device_tag"] / f"{result['model']}.json", record(result["model"], result))


if __name__ == "__main__":
    try:
        main()
    except BenchError as err:
        raise SystemExit(f"error: {err}") from None
