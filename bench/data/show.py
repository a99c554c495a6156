"""Contact sheets: a quick look at pairs, skeletons and PG2 masks of a dataset.

One row per pair: source with its skeleton | target with its skeleton | target
with the PG2 mask (the region of mask-SSIM) tinted green. Two caption lines
above each row name the images. Images are enlarged by an integer factor
(nearest neighbour) so that Market's 128x64 crops stay legible.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from bench.data.annotations import read_annotations, read_pairs
from bench.data.draw import draw_skeleton, overlay_mask
from bench.data.images import image_format, load_image, save_image
from bench.data.layout import DatasetLayout
from bench.data.masks import pg2_masks
from bench.errors import DataError

TITLES = ("source + pose", "target + pose", "target + PG2 mask")
MARGIN = 6  # pixels around the sheet and between panels
CAPTION = 14  # height of one caption line
BACKGROUND = (255, 255, 255)


def display_scale(size: tuple[int, int]) -> int:
    """Integer enlargement that brings the image height to about 256 pixels."""
    return max(1, round(256 / size[0]))


def sheet_shape(rows: int, size: tuple[int, int], scale: int) -> tuple[int, int]:
    """(height, width) of a sheet of ``rows`` pairs: a title line, then per row two captions + panels."""
    h, w = size[0] * scale, size[1] * scale
    width = MARGIN + len(TITLES) * (w + MARGIN)
    height = MARGIN + CAPTION + rows * (2 * CAPTION + h + MARGIN)
    return height, width


def panel_origin(row: int, column: int, size: tuple[int, int], scale: int) -> tuple[int, int]:
    """Top-left pixel (y, x) of a panel."""
    h, w = size[0] * scale, size[1] * scale
    return MARGIN + CAPTION + row * (2 * CAPTION + h + MARGIN) + 2 * CAPTION, MARGIN + column * (w + MARGIN)


def compose(panels: Sequence[Sequence[np.ndarray]], captions: Sequence[tuple[str, str]], scale: int) -> np.ndarray:
    """Lay out rows of equally sized uint8 panels with captions; returns the sheet (H, W, 3)."""
    size = panels[0][0].shape[:2]
    sheet = Image.new("RGB", sheet_shape(len(panels), size, scale)[::-1], BACKGROUND)
    draw, font = ImageDraw.Draw(sheet), _font()
    for column, title in enumerate(TITLES):
        draw.text((panel_origin(0, column, size, scale)[1], MARGIN), title, fill=(0, 0, 0), font=font)
    for row, (images, (source, target)) in enumerate(zip(panels, captions)):
        top, left = panel_origin(row, 0, size, scale)
        draw.text((left, top - 2 * CAPTION), f"from {source}", fill=(60, 60, 60), font=font)
        draw.text((left, top - CAPTION), f"to   {target}", fill=(60, 60, 60), font=font)
        for column, image in enumerate(images):
            big = np.repeat(np.repeat(image, scale, axis=0), scale, axis=1)
            sheet.paste(Image.fromarray(big), panel_origin(row, column, size, scale)[::-1])
    return np.asarray(sheet).copy()


def _font() -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=11)
    except (TypeError, ValueError, OSError):  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def pair_panels(layout: DatasetLayout, split: str, source: str, target: str, annotations) -> list[np.ndarray]:
    """The three panels of one pair, at the dataset's image size."""
    size = layout.kind.image_size
    src = load_image(layout.images(split) / source, size=size)
    tgt = load_image(layout.images(split) / target, size=size)
    mask = pg2_masks(annotations[target][None], size)[0]
    return [
        draw_skeleton(src, annotations[source]),
        draw_skeleton(tgt, annotations[target]),
        overlay_mask(tgt, mask),
    ]


def contact_sheet(
    dataset_dir: str | Path,
    out_png: str | Path,
    split: str = "test",
    n: int = 8,
    seed: int = 0,
    pairs_dir: str | Path | None = None,
) -> list[tuple[str, str]]:
    """Write a PNG of ``n`` randomly drawn pairs of ``split``; returns the pairs shown."""
    from bench.io import IMAGE, check_replaceable

    image_format(out_png)  # a bad suffix or a foreign file at --out: refused before any work
    check_replaceable(Path(out_png), as_dir=False, kind=IMAGE)
    layout = DatasetLayout.open(dataset_dir, pairs_dir)
    pairs = read_pairs(layout.pairs(split))
    if not pairs:
        raise DataError(layout.pairs(split), "holds no pairs")
    annotations = read_annotations(layout.annotations(split), image_size=layout.kind.image_size)
    order = np.random.default_rng(seed).choice(len(pairs), size=min(n, len(pairs)), replace=False)
    shown = [pairs[i] for i in order]
    for name in sorted({name for pair in shown for name in pair} - annotations.keys()):
        raise DataError(layout.annotations(split), f"no annotation for image {name!r} of {layout.pairs(split).name}")
    panels = [pair_panels(layout, split, s, t, annotations) for s, t in shown]
    save_image(out_png, compose(panels, shown, display_scale(layout.kind.image_size)))
    return shown
