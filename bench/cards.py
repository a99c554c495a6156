"""Typed registry metadata: a ``ModelCard`` per generator, a ``MetricSpec`` per metric.

Every entry carries every field (defaults say "not applicable"), so a mistyped key is a
``TypeError`` at registration, not a silent ``None`` at lookup (timm's ``PretrainedCfg``,
lm-eval's metric specs). No torch here: tables and CLIs read these without loading models.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ModelCard:
    paper: str  # short citation
    title: str | None = None
    year: int | None = None
    code: str | None = None  # the original repository (None: no public code)
    param_counts: Mapping[str, int] | None = None  # generator parameters per dataset kind, at published size
    generator_builder: Callable[..., Any] | None = None  # (dataset, **config) -> generator only (no D)
    multi_source: bool = False  # takes n >= 2 source images
    trainable: bool = True  # False: a reference row (generate only)
    paper_rows: str | None = None  # which rows of the paper's tables this entry reproduces
    preset: Mapping[str, Any] | None = None  # config a variant fixes
    variant: str | None = None  # the paper's label of an ablation variant
    base_model: str | None = None  # a variant's base generator
    skip_gate: str | None = None  # mUNet's gate on the skip connections
    described_in: str | None = None  # where the architecture is described when not in ``paper``
    paper_settings: Mapping[str, Any] | None = None  # per-dataset evaluation settings of the paper
    published_params: str | None = None  # a published parameter count we could not reproduce


@dataclass(frozen=True)
class Quantity:
    """What a results table needs to show and rank one column."""

    label: str
    higher_is_better: bool
    decimals: int  # as the papers print it


@dataclass(frozen=True)
class MetricSpec(Quantity):
    """A registered metric: a table column plus what the evaluation record states about it."""

    paper: str
    version: str
    per_pair: bool
    convention: str = ""
