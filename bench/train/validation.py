"""Validation during training: score the model on a held-out split, keep the best checkpoint.

Horiuchi et al. (sec. 4.1) select "the model with the best SSIM on the validation
set"; ``TrainConfig.val_every`` = N > 0 scores the generator every N iterations (and
at the last one) on the validation split with a registered per-pair metric
(``val_metric``, default ``ssim``, under ``val_protocol``) and saves the best weights
so far as ``best.pt`` in the run folder. ``bench generate`` on a run folder takes
``best.pt`` when it exists. Ties keep the earlier checkpoint (a later one must be
strictly better, as a running ``max`` would).

The split is the multi-source ``msource-validation-k*.csv`` of ``bench data prepare
--multi-source`` (identities held out of the multi-source training tuples). A model
trained on pairs can be validated on its first source (n = 1), but those identities
are also in ``pairs-train.csv``: the run's meta says so (``held_out``).

Images are scored exactly as ``bench evaluate`` scores them: uint8 by the ``round``
conversion, which maps the loader's targets back to their stored bytes.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, Subset

from bench.data.layout import DatasetLayout
from bench.errors import BenchError

BEST = "best.pt"


@dataclass
class Validation:
    dataset: Dataset
    layout: DatasetLayout
    metric: str = "ssim"
    protocol: str = "paper"
    items: int = 0  # score the first ``items`` of the split (0: all)
    held_out: bool = True  # False: the validation identities are also in the training data
    listing: str = ""
    history: list[tuple[int, float]] = field(default_factory=list)
    best: tuple[int, float] | None = None  # (step, value)

    def __post_init__(self) -> None:
        from bench.registry import METRICS

        entry = METRICS.get(self.metric)
        if not entry.meta.per_pair:
            raise BenchError(f"validation metric {self.metric!r} is set-level; choose a per-pair metric "
                             "(ssim, mask-ssim, psnr, ...), which needs no weights and few images")
        self.higher = entry.meta.higher_is_better
        if len(self.dataset) == 0:
            raise BenchError(f"the validation split {self.listing or ''} is empty")

    def subset(self) -> Dataset:
        n = len(self.dataset) if not self.items else min(self.items, len(self.dataset))
        return Subset(self.dataset, range(n))

    def score(self, model: torch.nn.Module, device: torch.device, batch_size: int) -> float:
        """The metric of ``model``'s images of the validation items (the model is left in train mode)."""
        import numpy as np

        from bench.data.dataset import collate
        from bench.metrics.base import EvalInputs
        from bench.metrics.protocol import get_protocol
        from bench.registry import METRICS
        from bench.train.generate import to_uint8
        from bench.train.trainer import to_device

        generated, targets, keypoints, pairs = [], [], [], []
        model.eval()
        try:
            with torch.no_grad():
                for batch in DataLoader(self.subset(), batch_size=batch_size, shuffle=False, collate_fn=collate):
                    generated.append(to_uint8(model(to_device(batch, device))))
                    targets.append(to_uint8(batch["target"]))
                    keypoints.append(batch["target_keypoints"].round().long().numpy())
                    sources = batch["from"]
                    pairs += [(s if isinstance(s, str) else s[0], t) for s, t in zip(sources, batch["to"])]
        finally:
            model.train()
        inputs = EvalInputs(np.concatenate(generated), np.concatenate(targets), np.concatenate(keypoints), pairs,
                            self.layout, str(device), progress=False)
        result = METRICS.get(self.metric).constructor(inputs, get_protocol(self.protocol))
        if result.value is None:
            raise BenchError(f"validation {self.metric} is undefined: {result.reason}")
        return float(result.value)

    def update(self, step: int, value: float) -> bool:
        """Record ``value`` at ``step``; True when it is the best so far (the caller saves the weights)."""
        self.history.append((step, value))
        better = self.best is None or (value > self.best[1] if self.higher else value < self.best[1])
        if better:
            self.best = (step, value)
        return better

    def state_dict(self) -> dict[str, Any]:
        return {"history": [list(h) for h in self.history], "best": list(self.best) if self.best else None}

    def load_state_dict(self, state: dict[str, Any] | None) -> None:
        state = state or {}
        self.history = [(int(s), float(v)) for s, v in state.get("history", [])]
        self.best = (int(state["best"][0]), float(state["best"][1])) if state.get("best") else None

    def metadata(self, every: int) -> dict[str, Any]:
        return {"metric": self.metric, "protocol": self.protocol, "higher_is_better": self.higher, "every": every,
                "split": self.listing, "items": len(self.subset()), "held_out": self.held_out,
                "selected": BEST if self.best else None,
                "best": {"step": self.best[0], "value": self.best[1]} if self.best else None,
                "history": [{"step": s, "value": v} for s, v in self.history]}
