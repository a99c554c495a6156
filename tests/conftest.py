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


@pytest.fixture
def one_torch_thread():
    """Run the test on one torch thread: tiny models are fastest so (and the CI box is shared)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)



@pytest.fixture
def trust_weights(monkeypatch):
    """``trust(name, path)`` for this test: see :func:`weights_helpers.trust_weight`."""
    from weights_helpers import trust_weight

    return lambda name, path: trust_weight(monkeypatch, name, path)
