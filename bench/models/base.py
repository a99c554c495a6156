"""What a generator module hands to the trainer.

A model is one ``nn.Module`` holding a ``generator`` and a ``ModuleDict`` of
``discriminators``; it says how to generate (``forward``) and which loss terms
each side minimises (``generator_losses`` / ``discriminator_losses``, each a dict
of already-weighted terms that the trainer sums). The trainer owns everything
else: the loop, optimisers (one for G, one per discriminator), schedules,
logging, checkpoints and distribution.

Batches are dicts produced by ``bench.data.dataset.PairDataset``:

======================  =====================================================
``source``              (B, 3, H, W) source image in [-1, 1]
``source_pose``         (B, 18, H, W) Gaussian heatmaps of the source, in [0, 1]
``target``              (B, 3, H, W) target image in [-1, 1]
``target_pose``         (B, 18, H, W) heatmaps of the target pose
``source_keypoints``    (B, 18, 2) float (y, x), -1 where missing
``target_keypoints``    (B, 18, 2)
``from`` / ``to``       lists of image names
======================  =====================================================

Multi-source batches add a source axis: ``source`` (B, K, 3, H, W),
``source_pose`` (B, K, 18, H, W), ``source_keypoints`` (B, K, 18, 2).
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

Batch = dict[str, Any]


class PoseTransferModel(nn.Module):
    """Base class of every registered generator (see the module docstring)."""

    #: False for reference rows such as ``source-copy`` that need no training.
    trainable: bool = True

    def __init__(self) -> None:
        super().__init__()
        self.generator: nn.Module = nn.Identity()
        self.discriminators = nn.ModuleDict()
        #: Loss modules that hold no trainable state (VGG features, ...). Kept out of
        #: ``self`` so they never enter parameter counts or checkpoints; the trainer
        #: moves them to the device with ``model.to``-like calls via ``loss_modules``.
        self.loss_modules: dict[str, nn.Module] = {}

    def forward(self, batch: Batch) -> torch.Tensor:
        """The generated target image, (B, 3, H, W) in [-1, 1]."""
        raise NotImplementedError

    def generator_losses(self, batch: Batch, fake: torch.Tensor) -> dict[str, torch.Tensor]:
        """Weighted loss terms of the generator step (adversarial terms included)."""
        raise NotImplementedError

    def discriminator_losses(self, batch: Batch, fake: torch.Tensor) -> dict[str, torch.Tensor]:
        """Weighted loss terms of the discriminator step; ``fake`` is already detached.

        Keys must be ``"<discriminator name>/<term>"`` so the trainer can step each
        discriminator's optimiser on its own terms.
        """
        return {}

    def metadata(self) -> dict[str, Any]:
        """Configuration worth recording in checkpoints and results (loss terms on/off, ...)."""
        return {}
