"""The metrics. ``bench.plugins`` says which module registers each name; a metric's module
is imported only when it is looked up, so importing this package loads no metric.
"""
from __future__ import annotations

from bench.registry import METRICS


def list_metrics(pattern: str = "*") -> list[str]:
    return METRICS.names(pattern)


def get_metric(name: str):
    return METRICS.get(name)
