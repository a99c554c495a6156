"""What one synthetic person looks like: body shape, skin, hair and clothes.

An identity keeps its appearance in every image; only pose, view, camera and
framing change. Pattern periods are in body-height units and become pixels
when a person is placed in an image.
"""
from __future__ import annotations

import colorsys
from dataclasses import dataclass, replace

import numpy as np

from bench.data.synth.kinematics import Body
from bench.data.synth.render import Color, Paint

SKIN_TONES: tuple[Color, ...] = (
    (0.96, 0.80, 0.69), (0.93, 0.75, 0.62), (0.87, 0.66, 0.51), (0.79, 0.58, 0.43),
    (0.66, 0.46, 0.32), (0.53, 0.36, 0.25), (0.39, 0.26, 0.18),
)
HAIR_COLORS: tuple[Color, ...] = (
    (0.07, 0.06, 0.05), (0.07, 0.06, 0.05), (0.20, 0.13, 0.08), (0.36, 0.23, 0.13),
    (0.76, 0.62, 0.38), (0.48, 0.21, 0.11), (0.58, 0.57, 0.55),
)
# Street clothes are mostly neutral; catalogue clothes more often coloured.
NEUTRALS: tuple[Color, ...] = (
    (0.08, 0.08, 0.09), (0.15, 0.15, 0.17), (0.93, 0.93, 0.91), (0.55, 0.55, 0.56),
    (0.13, 0.17, 0.32), (0.78, 0.70, 0.56), (0.25, 0.36, 0.56), (0.35, 0.37, 0.22),
    (0.42, 0.28, 0.18),
)
SHOE_COLORS: tuple[Color, ...] = ((0.06, 0.06, 0.06), (0.92, 0.92, 0.9), (0.3, 0.2, 0.12), (0.45, 0.45, 0.48))

# Catalogue categories (DeepFashion In-shop names) and the garment each one shows.
CATEGORIES: dict[str, tuple[str, ...]] = {
    "WOMEN": ("Blouses_Shirts", "Cardigans", "Denim", "Dresses", "Graphic_Tees", "Jackets_Coats",
              "Leggings", "Pants", "Rompers_Jumpsuits", "Shorts", "Skirts", "Sweaters", "Tees_Tanks"),
    "MEN": ("Denim", "Jackets_Vests", "Pants", "Shirts_Polos", "Shorts", "Suiting", "Sweaters",
            "Sweatshirts_Hoodies", "Tees_Tanks"),
}
_LONG_SLEEVES = {"Cardigans", "Jackets_Coats", "Jackets_Vests", "Suiting", "Sweaters", "Sweatshirts_Hoodies"}
_BOTTOM_OF = {"Denim": "pants", "Leggings": "pants", "Pants": "pants", "Shorts": "shorts",
              "Skirts": "skirt", "Dresses": "dress", "Rompers_Jumpsuits": "jumpsuit"}


@dataclass(frozen=True)
class Appearance:
    gender: str  # "MEN" or "WOMEN"
    body: Body
    skin: Color
    hair: Paint
    hair_style: str  # "short" | "long" | "bun"
    top: Paint
    sleeves: str  # "none" | "short" | "long"
    bottom: Paint
    bottom_kind: str  # "pants" | "shorts" | "skirt" | "dress" | "jumpsuit"
    shoes: Paint
    backpack: Paint | None = None


def _pick(rng: np.random.Generator, options):
    return options[int(rng.integers(len(options)))]


def _vivid(rng: np.random.Generator, pastel: bool = False) -> Color:
    h = rng.uniform(0, 1)
    s = rng.uniform(0.25, 0.5) if pastel else rng.uniform(0.45, 0.9)
    v = rng.uniform(0.75, 0.95) if pastel else rng.uniform(0.35, 0.85)
    return tuple(float(c) for c in colorsys.hsv_to_rgb(h, s, v))


def _cloth_color(rng: np.random.Generator, style: str) -> Color:
    neutral_p = 0.65 if style == "market" else 0.35
    if rng.random() < neutral_p:
        base = np.asarray(_pick(rng, NEUTRALS))
        return tuple(float(c) for c in np.clip(base * rng.uniform(0.85, 1.12), 0, 1))
    return _vivid(rng, pastel=style == "fashion" and rng.random() < 0.4)


def _garment(rng: np.random.Generator, style: str, pattern_p: float) -> Paint:
    color = _cloth_color(rng, style)
    r = rng.random()
    if r < pattern_p * 0.65:
        pattern = "stripes"
    elif r < pattern_p:
        pattern = "checks"
    else:
        return Paint(color)
    second = _cloth_color(rng, style)
    if np.abs(np.subtract(second, color)).sum() < 0.45:  # keep the pattern visible
        second = tuple(float(1.0 - c * 0.8) for c in color)
    return Paint(color, pattern, second, period=float(rng.uniform(0.02, 0.04)))


def sample_appearance(rng: np.random.Generator, style: str, gender: str | None = None, category: str | None = None) -> Appearance:
    """A random person dressed for the street (``style="market"``) or a catalogue (``"fashion"``)."""
    gender = gender or ("WOMEN" if rng.random() < 0.45 else "MEN")
    women = gender == "WOMEN"
    body = Body().scaled(rng)
    if women:
        body = replace(body, chest_half=body.chest_half * 0.9, shoulder_half=body.shoulder_half * 0.93,
                       waist_half=body.waist_half * 0.9, hips_outline_half=body.hips_outline_half * 1.08,
                       arm_radius=body.arm_radius * 0.88)
    hair_style = _pick(rng, ("long", "long", "bun", "short")) if women else _pick(rng, ("short", "short", "short", "long"))
    hair = Paint(_pick(rng, HAIR_COLORS), gloss=0.25)
    pattern_p = 0.3 if style == "market" else 0.45
    top = _garment(rng, style, pattern_p)
    bottom = _garment(rng, style, pattern_p * 0.3)
    if category is None:
        kinds = ("pants", "pants", "pants", "shorts", "skirt", "dress") if women else ("pants", "pants", "pants", "shorts")
        bottom_kind = _pick(rng, kinds)
        sleeves = _pick(rng, ("short", "long", "long", "none") if women else ("short", "long", "long"))
    else:
        bottom_kind = _BOTTOM_OF.get(category) or _pick(rng, ("pants", "pants", "skirt", "shorts") if women else ("pants", "pants", "shorts"))
        sleeves = "long" if category in _LONG_SLEEVES else _pick(rng, ("short", "long", "none") if women or category == "Tees_Tanks" else ("short", "long"))
    if bottom_kind == "pants" and rng.random() < 0.4:  # jeans
        bottom = Paint(tuple(float(c) for c in np.asarray((0.2, 0.3, 0.5)) * rng.uniform(0.6, 1.3)))
    if bottom_kind in ("dress", "jumpsuit"):
        bottom = top
    backpack = Paint(_cloth_color(rng, style)) if style == "market" and rng.random() < 0.25 else None
    return Appearance(
        gender=gender, body=body, skin=_pick(rng, SKIN_TONES), hair=hair, hair_style=hair_style,
        top=top, sleeves=sleeves, bottom=bottom, bottom_kind=bottom_kind,
        shoes=Paint(_pick(rng, SHOE_COLORS), gloss=0.3), backpack=backpack,
    )
