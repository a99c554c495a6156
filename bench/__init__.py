"""PoseTransferBench: a benchmark harness for pose-guided person image generation."""
from __future__ import annotations

import os

# OpenMP worker threads that spin between parallel regions take the cores of a shared
# machine from everyone else, this process's own Python threads included. Set before
# torch (which reads it when it loads OpenMP): every command imports this package first.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
