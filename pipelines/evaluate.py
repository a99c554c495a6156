"""DVC stage ``evaluate@<model>-<dataset>``: one cell's test images, generated and scored.

Generating and scoring in one process pays the start-up (PyTorch, the model, the
metrics' compiled kernels, DVC's own bookkeeping of a stage) once per cell instead of
twice: on the embedded default that start-up, not the work, is most of a cell's time.
The images stay a stage output (``generated/<model>/<dataset>/``) for the report, the
``protocols`` stage and ``bench compare``; the record is what ``bench evaluate`` writes.

    python -m pipelines.evaluate MODEL DATASET PROTOCOL ESTIMATOR
"""
from __future__ import annotations

import sys

import torch

from bench.errors import BenchError
from bench.evaluate import EvalConfig, evaluate
from pipelines.common import dataset_root, generated_dir, pairs_dir, record_file
from pipelines.generate import main as generate


def main(model: str, dataset: str, protocol: str, estimator: str) -> None:
    threads = torch.get_num_threads()
    generate(model, dataset)  # at the cell's training thread count (tiny models run fastest on one)
    torch.set_num_threads(threads)
    evaluate(EvalConfig(generated_dir=generated_dir(model, dataset), dataset=dataset_root(dataset),
                        out=record_file(model, dataset), pairs_dir=pairs_dir(dataset), protocol=protocol,
                        estimator=estimator, model=model, progress=sys.stderr.isatty()))


if __name__ == "__main__":
    try:
        main(*sys.argv[1:5])
    except BenchError as err:
        raise SystemExit(f"error: {err}") from None
