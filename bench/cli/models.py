"""`bench models`, `bench profile`, `bench import`: the registered generators, their size and speed."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from bench.data.layout import KINDS

DATASETS = tuple(KINDS)


def generator_params(name: str, dataset: str) -> int:
    """Generator parameter count at the published size, built on the meta device (no memory, no init).

    A registry entry may offer ``generator_builder(dataset)`` to skip building its
    discriminators (spectral norm's power iteration is slow on the meta device).
    """
    import torch

    from bench.models import count_parameters, create_model
    from bench.registry import MODELS

    builder = MODELS.get(name).meta.generator_builder
    with torch.device("meta"):
        generator = builder(dataset) if builder else create_model(name, dataset).generator
    return count_parameters(generator)


def model_docs(name: str) -> str | None:
    """docs/models/<module>.md, the notes of the module that registers ``name``, if it has one."""
    from bench.plugins import MODEL_PLUGINS

    module = MODEL_PLUGINS.get(name)
    path = f"docs/models/{module.rsplit('.', 1)[-1]}.md" if module else None
    return path if path and (Path(__file__).resolve().parents[2] / path).is_file() else None


def model_rows(pattern: str = "*") -> list[dict[str, Any]]:
    from bench.registry import MODELS

    if not any(ch in pattern for ch in "*?["):
        MODELS.get(pattern)  # an unknown name raises with the list of valid names
    rows = []
    for name in MODELS.names(pattern):
        entry = MODELS.get(name)
        rows.append({
            "name": name,
            "params": {d: generator_params(name, d) for d in DATASETS},
            "paper": entry.meta.paper,
            **({"paper_rows": entry.meta.paper_rows} if entry.meta.paper_rows is not None else {}),
            "docs": model_docs(name),
        })
    return rows


def _print_table(rows: list[dict[str, Any]]) -> None:
    """Plain aligned columns: readable in a terminal and when piped (no wrapping)."""
    header = ("model", "G params market", "G params deepfashion", "paper")
    lines = [(r["name"], f"{r['params']['market']:,}", f"{r['params']['deepfashion']:,}",
              r["paper"] + (f"  [{r['docs']}]" if r["docs"] else "")) for r in rows]
    widths = [max(len(line[i]) for line in [header, *lines]) for i in range(3)]
    for name, market, fashion, paper in [header, *lines]:
        typer.echo(f"{name:<{widths[0]}}  {market:>{widths[1]}}  {fashion:>{widths[2]}}  {paper}")


def models_cmd(
    name: str = typer.Argument("*", help="a model name or an fnmatch pattern (default: all)"),
    as_json: bool = typer.Option(False, "--json", help="print a JSON list instead of a table"),
) -> None:
    """List the registered generators with their parameter counts at each dataset's resolution."""
    rows = model_rows(name)
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
    else:
        _print_table(rows)


def profile_cmd(
    names: list[str] = typer.Argument(..., help="registered model names; several are timed side by side"),
    dataset: str = typer.Option("deepfashion", help="market or deepfashion (PoNA Table II: deepfashion)"),
    device: str = typer.Option("cpu", help="cpu or cuda[:N]"),
    batch: int = typer.Option(1, help="images per forward pass"),
    iters: int = typer.Option(20, help="timed forward passes per round"),
    warmup: int = typer.Option(3, help="untimed forward passes first"),
    rounds: int = typer.Option(3, help="interleaved rounds (model 1, model 2, ..., model 1, ...)"),
    width: float = typer.Option(1.0, help="channel multiplier (1 = the published size)"),
    as_json: bool = typer.Option(False, "--json", help="print the full results as JSON"),
) -> None:
    """Parameters (G and each D) and generator inference speed, as in PoNA Table II: every model
    built in one process and timed in interleaved rounds (median and min per batch)."""
    from bench.models.profile import profile_interleaved

    config = {"width": width} if width != 1.0 else {}  # not every model has a width option
    results = profile_interleaved(names, dataset, device, batch, iters, warmup, rounds, config=config)
    if as_json:
        typer.echo(json.dumps(results if len(results) > 1 else results[0], indent=2))
        return
    first = results[0]
    size = "" if width == 1.0 else f", width {width:g}"
    typer.echo(f"{dataset} {first['image_size'][0]}x{first['image_size'][1]}, batch {batch}{size}, {first['device']}; "
               f"{rounds} interleaved rounds of {iters} after {warmup} warm-up")
    typer.echo(f"{'model':<18} {'G params':>14} {'fps':>8} {'median ms':>10} {'min ms':>9} {'/ first':>8}")
    for r in results:
        typer.echo(f"{r['model']:<18} {r['params']['generator']:>14,} {r['fps']:>8.2f} {1000 * r['seconds_per_batch']:>10.1f} "
                   f"{1000 * r['min_seconds_per_batch']:>9.1f} {r['seconds_per_batch'] / first['seconds_per_batch']:>8.2f}")


def import_cmd(
    name: str = typer.Argument(..., help="registered model name, e.g. patn or pona"),
    checkpoint: Path = typer.Argument(..., help="the original code's netG state dict, e.g. latest_net_netG.pth"),
    dataset: str = typer.Option(..., help="market or deepfashion (decides the norm layers)"),
    out: Path = typer.Option(..., "--out", help="our checkpoint file to write"),
    no_dropout: bool = typer.Option(False, "--no-dropout", help="the original was trained with --no_dropout (PATN)"),
) -> None:
    """Convert an original-code generator checkpoint (PATN / PoNA) into our checkpoint format."""
    from baselines.convert import import_checkpoint

    config = {"dropout": False} if no_dropout else {}
    summary = import_checkpoint(name, checkpoint, dataset, out, **config)
    typer.echo(f"wrote {out}: {summary['tensors']} tensors of {name} ({dataset})")
    for note in summary["notes"]:
        typer.echo(f"  note: {note}")


def register(app: typer.Typer) -> None:
    app.command("models")(models_cmd)
    app.command("profile")(profile_cmd)
    app.command("import")(import_cmd)
