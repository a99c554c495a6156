from __future__ import annotations

from pathlib import Path

import pytest

import bench  # noqa: F401  (must precede any torchvision import: see bench/_torchvision_compat.py)

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


@pytest.fixture
def shared_data() -> Path:
    """The real annotation files in ../shared/data (not part of the repo)."""
    path = SHARED / "data"
    if not (path / "market" / "market-annotation-train.csv").exists():
        pytest.skip(f"real annotation files not found in {path} (../shared/ is absent on this machine)")
    return path
