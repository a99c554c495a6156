"""DVC stage ``weights``: on a connected machine, fetch every pretrained weight (opt-in), then record what is there.

``weights.download: true`` in params.yaml runs ``bench weights download --all``
(verified, atomic) so that IS, FID, LPIPS and the VGG losses are filled; the
default ``false`` downloads nothing. Either way ``results/weights.json`` lists
each file, whether it is present and verified, and where it was looked for; the
evaluate stages depend on it, so new weights re-score every cell.

    python -m pipelines.weights
"""
from __future__ import annotations

import sys
from pathlib import Path

from bench.errors import BenchError, DataError
from bench.io import atomic_write_json
from bench.weights import WEIGHTS, download, status
from pipelines.common import PARAMS, read_params

OUT = Path("results/weights.json")


def wanted(params: dict) -> bool:
    value = (params.get("weights") or {}).get("download", False)
    if not isinstance(value, bool):
        raise DataError(PARAMS, f"weights.download must be true or false, not {value!r}")
    return value


def main() -> None:
    if wanted(read_params()):
        for name in WEIGHTS:
            print(download(name, progress=sys.stderr.isatty()), file=sys.stderr)
    # Paths and folders only, no digests of absent files: the file changes when the weights do.
    atomic_write_json(OUT, [{k: v for k, v in row.to_dict().items() if k != "searched"} for row in status()])


if __name__ == "__main__":
    try:
        main()
    except BenchError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(1)
