"""Random-initialised stand-ins for pretrained weights, taken as the published files for one test."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from bench import weights


def trust_weight(monkeypatch: pytest.MonkeyPatch, name: str, path: Path) -> Path:
    """Take the test's file ``path`` as the published file of weight ``name``.

    Code paths that need real pretrained weights then run on a stand-in saved under
    the real name. Production code verifies every file against
    ``bench.weights.WEIGHTS`` (size and full sha256); only that table is patched.
    """
    spec = dataclasses.replace(weights.WEIGHTS[name], sha256=weights.sha256(path), size=Path(path).stat().st_size)
    monkeypatch.setitem(weights.WEIGHTS, name, spec)
    return path
