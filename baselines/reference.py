"""Reference rows that need no training.

``source-copy`` returns the source image unchanged: the floor any pose-transfer
model must beat on pose-sensitive metrics, and a check that the pipeline's
image handling is lossless (its SSIM against the source is exactly 1).
"""
from __future__ import annotations

from typing import Any

import torch

from bench.cards import ModelCard
from bench.errors import BenchError
from bench.models.base import Batch, PoseTransferModel
from bench.registry import MODELS


class SourceCopy(PoseTransferModel):
    trainable = False

    def __init__(self, dataset: str = "market"):
        super().__init__()
        self.dataset = dataset

    def forward(self, batch: Batch) -> torch.Tensor:
        source = batch["source"]
        return source[:, 0] if source.dim() == 5 else source  # multi-source: the first source

    def generator_losses(self, batch: Batch, fake: torch.Tensor) -> dict[str, torch.Tensor]:
        raise NotImplementedError("source-copy is not trained")

    def metadata(self) -> dict[str, Any]:
        return {"model": "source-copy", "dataset": self.dataset, "trainable": False}


@MODELS.register("source-copy", ModelCard(paper="reference row: returns the source image", trainable=False))
def build_source_copy(dataset: str = "market", **config: Any) -> SourceCopy:
    if config:
        raise BenchError(f"source-copy takes no options, got {', '.join(config)}")
    return SourceCopy(dataset)
