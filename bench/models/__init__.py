"""Model interface and factory: ``create_model(name, dataset)`` looks up the registry."""
from __future__ import annotations

from typing import Any

from bench.models.base import Batch, PoseTransferModel
from bench.registry import MODELS


def create_model(name: str, dataset: str = "market", **config: Any) -> PoseTransferModel:
    """Build the registered generator ``name`` for a dataset kind ("market" or "deepfashion")."""
    from bench.models.options import check_model_options

    check_model_options(config)  # the constructors check their own option names
    return MODELS.get(name).constructor(dataset=dataset, **config)


def list_models(pattern: str = "*") -> list[str]:
    return MODELS.names(pattern)


def count_parameters(module) -> int:
    return sum(p.numel() for p in module.parameters())


__all__ = ["Batch", "PoseTransferModel", "create_model", "list_models", "count_parameters", "MODELS"]
