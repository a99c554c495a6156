"""DVC stage ``protocols@<dataset>``: generated images scored again under another protocol.

A seed table is measured in its paper's geometry and FID convention (results/published.md):
Tang et al.'s Tables 1 and 3 under protocol ``gfla`` (DeepFashion resized to 256x256, GFLA's
FID script). ``protocols.<dataset>`` in params.yaml lists groups ``{protocol, metrics, models}``;
each model's default images (``generated/<model>/<dataset>``, from its ``evaluate`` stage)
are scored with those metrics into

    results/metrics/protocols/<dataset>/<protocol>/<model>.json

No images are generated here. One process per dataset (start-up paid once).

    python -m pipelines.protocols DATASET
"""
from __future__ import annotations

import sys
from pathlib import Path

from bench.errors import BenchError, DataError
from bench.evaluate import EvalConfig, evaluate
from bench.metrics.protocol import DEFAULT_PROTOCOL, get_protocol
from bench.registry import METRICS
from pipelines.common import PARAMS, dataset_models, dataset_root, pairs_dir, read_params

PROTOCOLS = "protocols"


def record_file(dataset: str, protocol: str, model: str) -> Path:
    return Path("results/metrics") / PROTOCOLS / dataset / protocol / f"{model}.json"


def planned(params: dict, dataset: str) -> list[tuple[str, tuple[str, ...], str]]:
    """The (protocol, metrics, model) cells of ``dataset``, checked against the protocols, metrics and trained models."""
    groups = (params.get(PROTOCOLS) or {}).get(dataset) or []
    where = f"{PROTOCOLS}.{dataset}"
    if not isinstance(groups, list):
        raise DataError(PARAMS, f"{where} must be a list of {{protocol, metrics, models}} groups")
    cells, seen = [], set()
    for i, group in enumerate(groups):
        if not isinstance(group, dict) or set(group) != {"protocol", "metrics", "models"}:
            raise DataError(PARAMS, f"{where}[{i}] must have exactly the keys protocol, metrics and models")
        protocol = group["protocol"]
        get_protocol(protocol)
        if protocol == DEFAULT_PROTOCOL:
            raise DataError(PARAMS, f"{where}[{i}]: {protocol!r} is what the evaluate stage scores already")
        metrics = tuple(group["metrics"] or ())
        for name in metrics:
            METRICS.get(name)  # an unknown name: one error naming the valid ones
        for model in group["models"] or ():
            if model not in dataset_models(params, dataset):
                raise DataError(PARAMS, f"{where}[{i}].{model}: not trained on {dataset} (`models` x `datasets` "
                                        "or a group's), so it has no generated images")
            if (protocol, model) in seen:
                raise DataError(PARAMS, f"{where}: {model} under {protocol!r} is listed twice")
            seen.add((protocol, model))
            cells.append((protocol, metrics, model))
    return cells


def main(dataset: str) -> None:
    for protocol, metrics, model in planned(read_params(), dataset):
        print(f"{dataset} {model} ({protocol})", file=sys.stderr)
        evaluate(EvalConfig(generated_dir=Path("generated") / model / dataset, dataset=dataset_root(dataset),
                            out=record_file(dataset, protocol, model), pairs_dir=pairs_dir(dataset), protocol=protocol,
                            metrics=metrics or None, model=model, progress=False))


if __name__ == "__main__":
    try:
        main(sys.argv[1])
    except BenchError as err:
        raise SystemExit(f"error: {err}") from None
