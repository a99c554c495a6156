"""Checks of the model options (``model.*`` in a profile, ``--set model.key=value``) before a model is built."""
from __future__ import annotations

from typing import Any

from bench.errors import BenchError


def check_model_options(options: dict[str, Any]) -> None:
    """Options every generator shares: ``width`` scales every channel count (1.0 = published size)."""
    if "width" in options:
        width = options["width"]
        if isinstance(width, bool) or not isinstance(width, (int, float)) or not width > 0:
            raise BenchError(f"model.width must be a positive number (1.0 = the published size), got {width!r}")
