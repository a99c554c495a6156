"""`bench data prepare` on the real Market annotations (run with --benchmark-only)."""
from __future__ import annotations

from bench.data.splits import prepare


def test_bench_prepare_market(benchmark, shared_data, tmp_path):
    market = shared_data / "market"
    manifest = benchmark.pedantic(
        prepare,
        kwargs=dict(annotations_train=market / "market-annotation-train.csv",
                    annotations_test=market / "market-annotation-test.csv", out=tmp_path),
        rounds=3, iterations=1,
    )
    assert manifest["splits"]["train"]["pairs"] == 263632
