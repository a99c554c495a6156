"""`bench data synth` at the default sizes (run with --benchmark-only); target: a few seconds each."""
from __future__ import annotations

import pytest

from bench.data.synth import SPECS, synthesize


@pytest.mark.parametrize("name", sorted(SPECS))
def test_bench_synthesize_default(benchmark, tmp_path, name):
    summary = benchmark.pedantic(synthesize, args=(name, tmp_path / name), kwargs=dict(seed=0, progress=False),
                                 rounds=1, iterations=1)
    assert summary["images"]["train"] > 0 and summary["images"]["test"] > 0
