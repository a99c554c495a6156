"""The convergence study: does each registered model learn under the protocol?

For every model: the same seed's untrained weights (step 0) and a run of a fixed
iteration budget (``params.yaml`` ``convergence:``) are both used to generate the test
pairs, and both are scored together with the source-copy reference row. Per metric the
study reports trained, untrained and source-copy means and two paired-bootstrap 95 %
intervals over the test pairs: trained - untrained (``learns`` when the interval lies
entirely on the better side) and trained - source-copy (``beats_copy``). PCKh is a
set-level rate (no per-pair values): it gets no interval and no verdict.

Work goes to ``work/<model>/`` (runs, images, records); every step is skipped when its
output exists, so an interrupted study resumes where it stopped. The results are
``<out>/<dataset>.csv``, ``<out>/<dataset>.md``, each run's loss log under
``<out>/<dataset>-logs/`` and one figure of every loss curve.
"""
from __future__ import annotations

import csv
import io
import json
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bench.errors import BenchError, DataError
from bench.io import atomic_write_text

PAIRED = ("mask-ssim", "psnr", "mask-psnr", "ssim")  # per-pair metrics: bootstrap intervals
METRICS = PAIRED + ("pckh",)
#: Mask-SSIM and PSNR decide whether a model learns (issue: both intervals above the untrained model).
DECIDING = ("mask-ssim", "psnr")
COLUMNS = ("model", "dataset", "iterations", "seconds", "metric", "trained", "untrained", "source_copy",
           "diff_ci_low", "diff_ci_high", "learns", "copy_ci_low", "copy_ci_high", "beats_copy")
REFERENCE = "source-copy"
#: Output-folder kinds (bench.io markers): the study writes in place and resumes, so it claims both folders first.
RESULTS_KIND, WORK_KIND = "convergence results", "convergence work"


@dataclass(frozen=True)
class Budget:
    """One model's training in the study: ``iterations`` and ``--set`` style overrides."""

    iterations: int
    overrides: dict[str, Any] = field(default_factory=dict)

    def train_overrides(self) -> dict[str, Any]:
        """The budget's length with a constant rate for the first half and a linear decay to 0 over the second
        (PATN's schedule shape), unless the model's own overrides say otherwise."""
        half = self.iterations // 2
        return {"iterations": self.iterations, "niter": half, "niter_decay": self.iterations - half,
                "val_every": 0, "ckpt_every": max(1, self.iterations // 4), **self.overrides}


@dataclass(frozen=True)
class StudyConfig:
    dataset: Path
    work: Path
    out: Path
    budgets: dict[str, Budget]  # model -> budget; source-copy is always scored as the reference row
    pairs_dir: Path | None = None
    name: str | None = None  # the dataset's name in the results (default: the folder name)
    profile: str = "cpu"
    params: Path = Path("params.yaml")
    estimator: str | None = None  # heatmap:PATH for PCKh; None: the study trains its own (pose_steps)
    test_pairs: int = 96  # test pairs the study samples when it prepares its own splits (pairs_dir None)
    pose_steps: int = 800  # heatmap estimator training steps (as the pipeline's pose stage); 0: no PCKh
    protocol: str = "paper"
    n_boot: int = 2000
    seed: int = 0
    threads: int = 0

    @property
    def dataset_name(self) -> str:
        return self.name or self.dataset.name


def read_budgets(params: dict[str, Any], where: Path, models: list[str]) -> dict[str, Budget]:
    """``convergence: {iterations: {default: N, <model>: N}, set: {<model>: {key: value}}}`` -> one Budget per model."""
    section = params.get("convergence")
    if not isinstance(section, dict):
        raise DataError(where, "has no `convergence:` section (the study's iteration budget per model)")
    unknown = set(section) - {"iterations", "set", "test_pairs", "models", "pose_steps"}
    if unknown:
        raise DataError(where, f"convergence: unknown key(s) {', '.join(sorted(unknown))}")
    iterations, sets = section.get("iterations") or {}, section.get("set") or {}
    for key in [*iterations, *sets]:
        if key != "default" and key not in models:
            raise DataError(where, f"convergence: {key!r} is not a registered model")
    chosen = section.get("models") or [m for m in models if m != REFERENCE]
    budgets = {}
    for model in chosen:
        if model not in models:
            raise DataError(where, f"convergence.models: {model!r} is not a registered model")
        n = iterations.get(model, iterations.get("default"))
        if not isinstance(n, int) or n < 1:
            raise DataError(where, f"convergence.iterations: {model} needs a positive iteration count, not {n!r}")
        budgets[model] = Budget(n, dict(sets.get(model) or {}))
    return budgets


# ----------------------------------------------------------------------------- one model's cells


def _log(message: str) -> None:
    print(f"convergence: {message}", file=sys.stderr, flush=True)


def _done(run: Path) -> bool:
    meta = run / "meta.json"
    return meta.is_file() and json.loads(meta.read_text()).get("status") == "finished"


def _train(cfg: StudyConfig, model: str, run: Path, overrides: dict[str, Any]) -> float:
    """Train (or resume) into ``run``; returns the wall seconds of this call (0 when already finished)."""
    from bench.train.run import train

    if _done(run):
        return 0.0
    started = time.perf_counter()
    resume = (run / "checkpoint.pt").exists()
    train(model, cfg.dataset, run, profile=cfg.profile, params=cfg.params, pairs_dir=cfg.pairs_dir, resume=resume,
          overrides=overrides, progress=sys.stderr.isatty())
    return time.perf_counter() - started


def _generate_and_score(cfg: StudyConfig, model: str, run: Path | None, images: Path, record: Path) -> Path:
    from bench.train.run import generate
    from bench.evaluate import EvalConfig, evaluate

    if not (images / "generation.json").exists() and not record.exists():
        generate(model, cfg.dataset, images, checkpoint=run, pairs_dir=cfg.pairs_dir, device="cpu",
                 progress=sys.stderr.isatty())
    if not record.exists():
        metrics = METRICS if cfg.estimator else PAIRED
        evaluate(EvalConfig(generated_dir=images, dataset=cfg.dataset, out=record, pairs_dir=cfg.pairs_dir,
                            metrics=metrics, protocol=cfg.protocol, estimator=cfg.estimator, model=model,
                            progress=sys.stderr.isatty()))
    return record


@dataclass
class Scores:
    """One evaluation: per-pair arrays of the paired metrics and the set-level values of all."""

    pairs: list[tuple[str, str]]
    per_pair: dict[str, np.ndarray]
    values: dict[str, float]

    @classmethod
    def read(cls, record_path: Path) -> "Scores":
        from bench.compare import read_per_pair
        from bench.results import metric_value, read_record

        record = read_record(record_path)
        pairs, per_pair = read_per_pair(record_path.parent / record.get("per_pair_csv"))
        return cls(pairs, per_pair, {name: metric_value(m) for name, m in record.metrics.items()})


def interval(a: Scores, b: Scores, metric: str, n_boot: int, seed: int) -> tuple[float, float]:
    """Paired-bootstrap 95 % interval of mean(a - b) over the test pairs both scored (same pair order)."""
    from bench.compare import paired_bootstrap

    if a.pairs != b.pairs:
        raise BenchError(f"{metric}: the two evaluations scored different test pairs")
    diff = a.per_pair[metric] - b.per_pair[metric]
    diff = diff[np.isfinite(diff)]  # a pair either evaluation excluded (bench.metrics.base.EXCLUSION_RULE)
    result = paired_bootstrap(diff, n_boot=n_boot, seed=seed)[0]
    return result.low, result.high


def model_rows(cfg: StudyConfig, model: str, iterations: int, seconds: float, trained: Scores, untrained: Scores,
               copy: Scores) -> list[dict[str, Any]]:
    rows = []
    for metric in METRICS:
        if metric not in trained.values:
            continue
        row = {"model": model, "dataset": cfg.dataset_name, "iterations": iterations, "seconds": round(seconds, 1),
               "metric": metric, "trained": trained.values[metric], "untrained": untrained.values[metric],
               "source_copy": copy.values[metric]}
        if metric in PAIRED:  # all four are higher-is-better
            low, high = interval(trained, untrained, metric, cfg.n_boot, cfg.seed)
            c_low, c_high = interval(trained, copy, metric, cfg.n_boot, cfg.seed)
            row.update(diff_ci_low=low, diff_ci_high=high, learns=low > 0, copy_ci_low=c_low, copy_ci_high=c_high,
                       beats_copy=c_low > 0)
        rows.append(row)
    return rows


def study_model(cfg: StudyConfig, model: str, budget: Budget, copy: Scores) -> list[dict[str, Any]]:
    base = cfg.work / model
    _train(cfg, model, base / "untrained", {**budget.train_overrides(), "iterations": 0})
    seconds = _train(cfg, model, base / "run", budget.train_overrides())
    timing = base / "train-seconds.json"
    if seconds:
        atomic_write_text(timing, json.dumps({"seconds": seconds}))
    seconds = json.loads(timing.read_text())["seconds"] if timing.exists() else seconds
    scores = {}
    for which in ("untrained", "run"):
        record = _generate_and_score(cfg, model, base / which, base / f"images-{which}", base / f"{which}.json")
        scores[which] = Scores.read(record)
    return model_rows(cfg, model, budget.iterations, seconds, scores["run"], scores["untrained"], copy)


# ----------------------------------------------------------------------------- the study


def prepared(cfg: StudyConfig) -> StudyConfig:
    """The study's own test split and PCKh estimator when the config names none (both reused on resume)."""
    import dataclasses

    if cfg.pairs_dir is None:
        pairs = cfg.work / "pairs"
        if not (pairs / "manifest.json").exists():
            from bench.data.splits import MultiSourceConfig, prepare
            from bench.yamlfile import read_yaml

            from bench.data.multisource import takes_multiple_sources

            # The multi-source tuples of the pipeline's prepare stage, which the multi-source models train on.
            multi = None
            if any(takes_multiple_sources(m) for m in cfg.budgets):
                multi = MultiSourceConfig.from_params(read_yaml(cfg.params), cfg.dataset_name, cfg.params)
            _log(f"preparing {cfg.test_pairs} test pairs into {pairs}")
            prepare(dataset=cfg.dataset, out=pairs, images_for_test=cfg.test_pairs, multi_source=multi)
        cfg = dataclasses.replace(cfg, pairs_dir=pairs)
    if cfg.estimator is None and cfg.pose_steps:
        pose = cfg.work / "pose.pt"
        if not pose.exists():
            from bench.pose_estimator.train import PoseTrainConfig, train_heatmap_estimator

            _log(f"training the PCKh pose estimator ({cfg.pose_steps} steps) into {pose}")
            train_heatmap_estimator(cfg.dataset, pose, PoseTrainConfig(steps=cfg.pose_steps, width=16))
        cfg = dataclasses.replace(cfg, estimator=f"heatmap:{pose}")
    return cfg


def run_study(cfg: StudyConfig) -> list[dict[str, Any]]:
    """Every model of ``cfg.budgets`` trained, generated and scored; writes and returns the rows."""
    import torch

    from bench.io import claim_folder

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    claim_folder(cfg.out, RESULTS_KIND)  # the user's folder given as --out or --work: refused before any work
    claim_folder(cfg.work, WORK_KIND)
    cfg = prepared(cfg)
    copy_record = _generate_and_score(cfg, REFERENCE, None, cfg.work / REFERENCE / "images", cfg.work / REFERENCE / "record.json")
    copy = Scores.read(copy_record)
    rows = [{"model": REFERENCE, "dataset": cfg.dataset_name, "iterations": 0, "seconds": 0.0, "metric": m,
             "trained": copy.values[m], "untrained": copy.values[m], "source_copy": copy.values[m]}
            for m in METRICS if m in copy.values]
    started = time.perf_counter()
    for i, (model, budget) in enumerate(cfg.budgets.items(), start=1):
        _log(f"[{i}/{len(cfg.budgets)}] {model}: {budget.iterations} iterations "
             f"({time.perf_counter() - started:.0f} s into the study)")
        rows += study_model(cfg, model, budget, copy)
        write_results(cfg, rows)  # after every model: a partial study is readable
    plot_curves(cfg)
    return rows


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def write_results(cfg: StudyConfig, rows: list[dict[str, Any]]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow([_cell(row.get(c)) for c in COLUMNS])
    name = cfg.dataset_name
    atomic_write_text(cfg.out / f"{name}.csv", buffer.getvalue())
    atomic_write_text(cfg.out / f"{name}.md", markdown(cfg, rows))
    logs = cfg.out / f"{name}-logs"
    logs.mkdir(exist_ok=True)
    for model in cfg.budgets:
        log = cfg.work / model / "run" / "train_log.csv"
        if log.exists():
            atomic_write_text(logs / f"{model}.csv", log.read_text())


def _ci(row: dict[str, Any], prefix: str) -> str:
    if row.get(f"{prefix}_ci_low") is None:
        return ""
    return f"[{row[f'{prefix}_ci_low']:+.4f}, {row[f'{prefix}_ci_high']:+.4f}]"


def markdown(cfg: StudyConfig, rows: list[dict[str, Any]]) -> str:
    """One line per model: the deciding metrics' values, intervals and verdicts, then PCKh."""
    by_model: dict[str, dict[str, dict[str, Any]]] = {}
    for row in rows:
        by_model.setdefault(row["model"], {})[row["metric"]] = row
    lines = [f"# Convergence study: {cfg.dataset_name}", "",
             f"Profile `{cfg.profile}`, protocol `{cfg.protocol}`, seed {cfg.seed}; {cfg.n_boot} paired-bootstrap "
             "resamples of the test pairs, 95 % percentile intervals. *learns*: the interval of trained - untrained "
             "(the same seed's step-0 weights) lies above 0; *beats copy*: the interval of trained - source-copy does.",
             "Written by `bench study convergence` (bench/convergence.py); the per-metric rows are in the CSV beside this file.",
             "", "| model | iterations | train s | metric | trained | untrained | source-copy | trained - untrained | learns "
             "| trained - copy | beats copy |", "|---|---:|---:|---|---:|---:|---:|---|---|---|---|"]
    for model, metrics in by_model.items():
        for metric, row in metrics.items():
            if metric not in DECIDING and metric != "pckh":
                continue
            lines.append(f"| {model} | {row['iterations']} | {row['seconds']:.0f} | {metric} | {row['trained']:.4f} "
                         f"| {row['untrained']:.4f} | {row['source_copy']:.4f} | {_ci(row, 'diff')} "
                         f"| {_cell(row.get('learns'))} | {_ci(row, 'copy')} | {_cell(row.get('beats_copy'))} |")
    learners = [m for m, ms in by_model.items() if m != REFERENCE and all(ms.get(d, {}).get("learns") for d in DECIDING)]
    beaters = [m for m, ms in by_model.items() if ms.get("mask-ssim", {}).get("beats_copy")]
    others = [m for m in by_model if m != REFERENCE and m not in learners]
    lines += ["", f"Learn on mask-SSIM and PSNR ({len(learners)} of {len(by_model) - 1}): {', '.join(learners) or 'none'}.",
              f"Not (yet): {', '.join(others) or 'none'}.",
              f"Beat source-copy on mask-SSIM: {', '.join(beaters) or 'none'}.", ""]
    return "\n".join(lines)


# ----------------------------------------------------------------------------- loss curves


def read_log(path: Path) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """A trainer log (``train_log.csv``) as its steps and one array per loss term (G/... and D/...)."""
    rows = list(csv.DictReader(path.read_text().splitlines()))
    steps = np.array([int(r["step"]) for r in rows])
    terms = [k for k in (rows[0] if rows else {}) if "/" in k]
    return steps, {k: np.array([float(r[k]) for r in rows]) for k in terms}


def plot_curves(cfg: StudyConfig) -> Path | None:
    """One panel per model: the generator's and the discriminators' summed loss terms over the study run."""
    from bench.figures import pyplot, save_figure

    logs = [(m, cfg.work / m / "run" / "train_log.csv") for m in cfg.budgets]
    logs = [(m, p) for m, p in logs if p.exists()]
    if not logs:
        return None
    plt = pyplot()
    cols = 6
    rows = math.ceil(len(logs) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.0 * cols, 2.2 * rows), squeeze=False)
    for ax in axes.ravel()[len(logs):]:
        ax.axis("off")
    for ax, (model, path) in zip(axes.ravel(), logs):
        steps, terms = read_log(path)
        for side in ("G", "D"):  # D: every discriminator's terms (PATN's D_PB and D_PP, ...)
            parts = [v for k, v in terms.items() if k.split("/")[0].startswith(side)]
            if parts:
                ax.plot(steps, np.sum(parts, axis=0), label=side, lw=1)
        ax.set_title(model, fontsize=9)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=6, frameon=False)
    fig.suptitle(f"Convergence study on {cfg.dataset_name}: summed loss terms per logged window", fontsize=11)
    fig.tight_layout()
    return save_figure(fig, cfg.out / f"{cfg.dataset_name}-losses.png")


def study_config(dataset: Path, work: Path, out: Path, params: Path, profile: str = "cpu",
                 models: list[str] | None = None, iterations: int | None = None, **options: Any) -> StudyConfig:
    """The study's config from ``params``'s ``convergence:`` section; ``models`` / ``iterations`` narrow it."""
    from bench.models import list_models
    from bench.yamlfile import read_yaml

    section = read_yaml(params)
    budgets = read_budgets(section, params, list_models())
    if models:
        unknown = [m for m in models if m not in budgets]
        if unknown:
            raise BenchError(f"--model {unknown[0]}: not in the study ({', '.join(budgets)})")
        budgets = {m: budgets[m] for m in models}
    if iterations is not None:
        if iterations < 1:
            raise BenchError(f"--iterations must be >= 1, got {iterations}")
        budgets = {m: Budget(iterations, b.overrides) for m, b in budgets.items()}
    conv = section["convergence"]
    extra = {k: conv[k] for k in ("test_pairs", "pose_steps") if k in conv}
    return StudyConfig(dataset=dataset, work=work, out=out, budgets=budgets, profile=profile, params=params,
                       **{**extra, **options})
