"""The ``bench`` command line: thin Typer wrappers over plain functions.

Each sub-module registers its commands on the app; heavy imports (torch, ...)
happen inside the commands so ``bench --help`` stays instant. Results go to
stdout or files, progress and logs to stderr. Exit codes: 0 ok, 1 a clear error
about the input, 2 a usage error.
"""
from __future__ import annotations

import sys

import typer

from bench.cli import compare, data, evaluate, figures, models, pose, reid, report, study, train, weights
from bench.errors import BenchError
from bench.registry import UnknownNameError

app = typer.Typer(
    name="bench",
    help="PoseTransferBench: train, generate, evaluate and compare pose-guided person image generators.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
for module in (data, evaluate, models, pose, train, weights, compare, figures, report, reid, study):
    module.register(app)


def main() -> None:
    try:
        app()
    except (BenchError, UnknownNameError) as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(1)
