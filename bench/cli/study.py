"""`bench study ...`: studies over many cells: the convergence study (bench.convergence) and the user
study of Tang et al. Table 2 (bench.userstudy).

    bench study convergence --dataset data/synth-market --work runs/convergence/synth-market \
        --out results/convergence
    bench study serve --config study.yaml --db study.sqlite      # participants at http://127.0.0.1:8765/
    bench study report --config study.yaml --db study.sqlite     # results/tables/tang2021-table-2.md
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

study_app = typer.Typer(help="Studies over many models: the convergence study; the user study (Tang et al. Table 2): "
                             "serve the web app, run a scripted pilot, write the table.", no_args_is_help=True)


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


CONFIG = typer.Option(..., "--config", help="study config YAML (datasets, methods -> generated folders, counts)")
DB = typer.Option(Path("study.sqlite"), "--db", help="the study's SQLite database (created if absent)")


def _open(config: Path, db: Path, synchronous: str = "FULL"):
    from bench.userstudy.config import load_config
    from bench.userstudy.pool import open_study
    from bench.userstudy.store import open_store

    study = open_study(load_config(config))
    return study, open_store(db, study, synchronous)


@study_app.command("serve")
def serve_cmd(
    config: Path = CONFIG,
    db: Path = DB,
    host: str = typer.Option("127.0.0.1", "--host", help="address to listen on (default: this machine only)"),
    port: int = typer.Option(8765, "--port"),
) -> None:
    """Serve both protocols to participants at http://HOST:PORT/ until Ctrl-C."""
    from bench.userstudy.app import serve

    serve(*_open(config, db), host=host, port=port)


@study_app.command("pilot")
def pilot_cmd(
    config: Path = CONFIG,
    db: Path = DB,
    participants: int = typer.Option(30, "--participants", help="scripted participants (robots answering at random)"),
    seed: int = typer.Option(0, "--seed"),
    p_real: float = typer.Option(0.5, "--p-real", help="probability a robot answers 'real'"),
) -> None:
    """Scripted (robot) participants take the whole study through the app's pages: a pilot, not human data."""
    from bench.userstudy.pilot import run_pilot

    # No fsync per answer for robots (a crash of the process still loses nothing): thousands of answers a minute.
    ids = run_pilot(*_open(config, db, "NORMAL"), participants, seed=seed, p_real=p_real)
    typer.echo(f"{len(ids)} scripted participants finished; answers in {db}")


@study_app.command("report")
def report_cmd(
    config: Path = CONFIG,
    db: Path = DB,
    out: Path = typer.Option(Path("results/tables/tang2021-table-2.md"), "--out", help="the Markdown table"),
    record: Path = typer.Option(Path("results/userstudy/tang2021-table-2.json"), "--record",
                                help="its numbers and provenance (JSON; `bench report` re-renders the table from it)"),
    published: Optional[Path] = typer.Option(Path("results/published.csv"), "--published", help="published numbers; '' to skip"),
    seed: int = typer.Option(0, "--seed", help="bootstrap seed"),
) -> None:
    """Table 2 (G2R, R2G, Prefer %) with 95% intervals, beside Tang et al.'s published values."""
    from bench.userstudy.report import write_report

    study, store = _open(config, db)
    for path in write_report(study, store, out, record, published if published and str(published) else None, seed):
        typer.echo(f"wrote {path}")


def register(app: typer.Typer) -> None:
    app.add_typer(study_app, name="study")
