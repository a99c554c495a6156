"""DVC stage ``report``: leaderboards, the seed papers' tables and figures in ``results/``.

    python -m pipelines.report
"""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from bench.errors import BenchError
from bench.report import write_report
from pipelines.common import cells as cells_of, dataset_root, generated_dir, pairs_dir, read_params, run_dir


def main() -> None:
    params = read_params()
    tag = params["profile_models"]["device_tag"]
    cells = cells_of(params, frame=False)  # the frame datasets fill tables, not the figures
    datasets = list(dict.fromkeys(d for _, d in cells))
    generated = {d: {m: generated_dir(m, d) for m, e in cells if e == d} for d in datasets}
    # Evaluation and profile records side by side, as one folder for the report.
    with tempfile.TemporaryDirectory() as tmp:
        records = Path(tmp)
        shutil.copytree("results/metrics", records / "metrics")
        if (Path("results/profile") / tag).is_dir():
            shutil.copytree(Path("results/profile") / tag, records / "profile")
        write_report(records, "results", "results/published.csv", generated,
                     {d: dataset_root(d) for d in datasets}, {d: pairs_dir(d) for d in datasets},
                     runs={d: {m: run_dir(m, d) for m, e in cells if e == d} for d in datasets})
    # PoNA Table VI (re-ID) comes from reid/dvc.yaml, a separate pipeline: its committed records
    # are read when present but are no dependency of this stage (that would pull the re-ID
    # experiment into the default `dvc repro`). Re-rendering here keeps the table in
    # results/tables/, which DVC clears before this stage runs.
    if list(Path("results/reid").rglob("p*.json")):
        from bench.reid.table import write_table

        write_table("results/reid", "results/published.csv", "results/tables")
    # Tang et al. Table 2 (the user study) the same way: from the committed record of `bench study report`.
    from bench.userstudy.report import RECORD, render_record

    if RECORD.is_file():
        render_record(RECORD, "results/published.csv", "results/tables/tang2021-table-2.md")


if __name__ == "__main__":
    try:
        main()
    except BenchError as err:
        raise SystemExit(f"error: {err}") from None
