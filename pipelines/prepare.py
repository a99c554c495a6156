"""DVC stage ``prepare@<dataset>``: the pair splits of one dataset, with the original rule.

``test_pairs`` in params.yaml is pose-gan's ``--images_for_test`` per dataset: how
many test pairs are sampled from the candidates. ``multi_source.<dataset>`` (optional)
also writes the multi-source tuples of Horiuchi et al.: ``k`` (the source counts, e.g.
1, 3, 10 for evaluation and 12 for training) and ``max_test`` (test tuples sampled). A dataset not listed gets the
original 12,000 (Market-1501; DeepFashion uses its official pair files). The
synthetic default samples fewer, so that every registered model is generated
and scored within the pipeline's time budget.

    python -m pipelines.prepare DATASET
"""
from __future__ import annotations

import sys

from bench.data.splits import IMAGES_FOR_TEST, MultiSourceConfig, prepare
from bench.errors import BenchError, DataError
from pipelines.common import PARAMS, dataset_root, pairs_dir, read_params


def test_pairs(params: dict, dataset: str) -> int:
    counts = params.get("test_pairs") or {}
    if not isinstance(counts, dict):
        raise DataError(PARAMS, "test_pairs must map dataset names to pair counts")
    count = counts.get(dataset, IMAGES_FOR_TEST)
    if not isinstance(count, int) or count < 1:
        raise DataError(PARAMS, f"test_pairs.{dataset} must be a positive integer, not {count!r}")
    return count


def main(dataset: str) -> None:
    params = read_params()
    manifest = prepare(dataset=dataset_root(dataset), out=pairs_dir(dataset),
                       images_for_test=test_pairs(params, dataset),
                       multi_source=MultiSourceConfig.from_params(params, dataset, PARAMS))
    for split, info in manifest["splits"].items():
        print(f"{dataset} {split}: {info['pairs']} pairs ({info['pairs_source']}), {info['identities']} identities")
    for split, info in ((manifest.get("multi_source") or {}).get("splits") or {}).items():
        print(f"{dataset} multi-source {split}: {info['tuples']} tuples, {info['identities']} identities")


if __name__ == "__main__":
    try:
        main(sys.argv[1])
    except BenchError as err:
        raise SystemExit(f"error: {err}") from None
