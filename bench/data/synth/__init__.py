"""Synthetic Market-1501- and DeepFashion-like datasets, generated from a seed.

The real datasets cannot be downloaded here, so every pipeline stage (pairs,
training, metrics) can run on these instead: articulated people rendered from
the 18 OpenPose keypoints, with per-identity clothes, several views per
identity, and the real file names, annotation CSVs and folder layout.

    synthesize("synth-market", "data/synth-market", seed=0)

Modules: ``kinematics`` (joint angles -> 3-D joints), ``appearance`` (who wears
what), ``render`` (z-buffered shaded parts), ``person`` (parts and keypoints of
one person), ``scene`` (backgrounds, camera finish), ``naming`` (file names),
``dataset`` (planning and writing).
"""
from __future__ import annotations

from bench.data.synth.dataset import SPECS, SynthSpec, synthesize

__all__ = ["SPECS", "SynthSpec", "synthesize"]
