"""`bench weights ...`: which pretrained weights are present and where each is expected."""
from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    pass
