"""The generated-image name rule, one home: the image generated for test pair (from, to) is
``{from}___{to}.png`` (PATN's name stem; a multi-source tuple uses its from_key). ``bench
generate`` writes these names, ``bench evaluate`` and the CSV pose estimator look them up.
"""
from __future__ import annotations

SEPARATOR = "___"


def pair_stem(source: str, target: str) -> str:
    return f"{source}{SEPARATOR}{target}"


def pair_image_name(source: str, target: str, suffix: str = ".png") -> str:
    return pair_stem(source, target) + suffix
