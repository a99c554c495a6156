"""Training: losses, configuration, the GAN trainer, checkpoints, distribution and generation."""
from __future__ import annotations
