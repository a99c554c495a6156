from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread):
    """Every test here builds tiny models: one torch thread (tests/conftest.py)."""
