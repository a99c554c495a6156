"""`bench study ...`: studies that train and score many cells (bench.convergence).

    bench study convergence --dataset data/synth-market --work runs/convergence/synth-market \
        --out results/convergence
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

study_app = typer.Typer(help="Studies over many models: the convergence study.", no_args_is_help=True)


@study_app.command("convergence")
def convergence_cmd(
    dataset: Path = typer.Option(..., "--dataset", help="dataset folder (e.g. data/synth-market)"),
    work: Path = typer.Option(..., "--work", help="folder for the runs, images and records (resumable)"),
    out: Path = typer.Option(Path("results/convergence"), "--out", help="folder of <dataset>.csv / .md / -losses.png"),
    params: Path = typer.Option(Path("params.yaml"), "--params", help="its `convergence:` section holds the budget"),
    profile: str = typer.Option("cpu", "--profile"),
    models: Optional[list[str]] = typer.Option(None, "--model", help="only these models (repeatable)"),
    iterations: Optional[int] = typer.Option(None, "--iterations", help="every model's budget (a quick check)"),
    pairs_dir: Optional[Path] = typer.Option(None, "--pairs-dir", help="prepared splits (default: the study prepares its own)"),
    estimator: Optional[str] = typer.Option(None, "--estimator", help="PCKh estimator (default: the study trains one)"),
    pose_steps: Optional[int] = typer.Option(None, "--pose-steps", help="steps of the study's own pose estimator (0: no PCKh)"),
    n_boot: int = typer.Option(2000, "--n-boot"),
    threads: int = typer.Option(2, "--threads", help="torch CPU threads"),
) -> None:
    """Train every model for its budget, score it against its untrained self and source-copy, write the tables."""
    import dataclasses

    from bench.convergence import StudyConfig, run_study, study_config

    cfg = study_config(dataset, work, out, params, profile=profile, models=models, iterations=iterations,
                       pairs_dir=pairs_dir, estimator=estimator, n_boot=n_boot, threads=threads)
    if pose_steps is not None:
        cfg = dataclasses.replace(cfg, pose_steps=pose_steps)
    rows = run_study(cfg)
    print(f"{len(rows)} rows: {out / (cfg.dataset_name + '.csv')}", file=sys.stderr)
    typer.echo((out / f"{cfg.dataset_name}.md").read_text())


def register(app: typer.Typer) -> None:
    app.add_typer(study_app, name="study")
