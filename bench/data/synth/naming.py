"""File names in the real datasets' schemes, so the identity rules apply unchanged.

Market-1501: ``0002_c1s1_000451_03.jpg`` = person id (4 digits; ``-1`` junk,
``0000`` distractor), camera c1-c6, sequence s1-s6, frame (6 digits), box index
(2 digits). DeepFashion (PATN/GFLA): ``fashionWOMENDressesid0000262902_3back.jpg``
= gender + category (underscores kept) + ``id`` + 8-digit item + 2-digit outfit
index, ``_``, pose number + view word. pose-gan's DeepFashion
(pose-gan data/split_fasion_dataset.py): ``fasion`` + gender + category *without*
underscores + the same rest, e.g. ``fasionWOMENTeesTanksid0000031606_2side.jpg``.
"""
from __future__ import annotations

MARKET_JUNK = -1
MARKET_DISTRACTOR = 0
FASHION_VIEWS = ("front", "side", "back", "full", "additional")


def market_name(person: int, camera: int, sequence: int, frame: int, box: int) -> str:
    if not (1 <= camera <= 6 and 1 <= sequence <= 6 and 0 <= frame < 10**6 and 0 < box < 100):
        raise ValueError(f"bad Market name fields: camera={camera} sequence={sequence} frame={frame} box={box}")
    pid = "-1" if person == MARKET_JUNK else f"{person:04d}"
    return f"{pid}_c{camera}s{sequence}_{frame:06d}_{box:02d}.jpg"


def fashion_identity_prefix(gender: str, category: str, item: int, outfit: int, posegan: bool = False) -> str:
    if posegan:
        return f"fasion{gender}{category.replace('_', '')}id{item:08d}{outfit:02d}"
    return f"fashion{gender}{category}id{item:08d}{outfit:02d}"


def fashion_name(gender: str, category: str, item: int, outfit: int, pose_number: int, view: str,
                 posegan: bool = False) -> str:
    if view not in FASHION_VIEWS or not (0 <= item < 10**8 and 0 <= outfit < 100 and 0 < pose_number < 10):
        raise ValueError(f"bad DeepFashion name fields: item={item} outfit={outfit} pose={pose_number} view={view!r}")
    return f"{fashion_identity_prefix(gender, category, item, outfit, posegan)}_{pose_number}{view}.jpg"
