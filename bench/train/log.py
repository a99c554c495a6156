"""The training log of a run folder: its file name and its reader (one home for both)."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from bench.errors import DataError
from bench.io import read_text

LOG = "train_log.csv"
NOT_LOSSES = ("step", "lr_g", "lr_d", "seconds")  # log columns that are not loss terms


def read_train_log(path: Path) -> dict[str, np.ndarray]:
    """A training log CSV (a ``step`` column, then numbers) as one float array per column."""
    rows = list(csv.reader(read_text(path, "training log").splitlines()))
    if not rows or "step" not in rows[0]:
        raise DataError(path, "training log needs a header with a 'step' column", 1)
    header, values = rows[0], []
    for line, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise DataError(path, f"{len(row)} fields, the header has {len(header)}", line)
        try:
            values.append([float(v) if v != "" else np.nan for v in row])
        except ValueError:
            raise DataError(path, f"not a number in {row}", line) from None
    if not values:
        raise DataError(path, "training log has no rows yet")
    table = np.asarray(values)
    return {name: table[:, j] for j, name in enumerate(header)}
