"""Reading and writing dataset images as uint8 RGB arrays, with clear errors.

A truncated JPEG must fail loudly: Pillow would otherwise decode what is there
and fill the rest with grey when ``ImageFile.LOAD_TRUNCATED_IMAGES`` is set,
and a metric computed on such an image is silently wrong. We never set it and
force the full decode inside ``load_image``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageFile, UnidentifiedImageError

from bench.errors import DataError
from bench.io import IMAGE, SIGNATURE, atomic_path


def load_image(path: str | Path, size: tuple[int, int] | None = None) -> np.ndarray:
    """The image at ``path`` as uint8 (H, W, 3) RGB; with ``size=(H, W)`` it must have that size."""
    path = Path(path)
    if ImageFile.LOAD_TRUNCATED_IMAGES:
        raise DataError(path, "PIL.ImageFile.LOAD_TRUNCATED_IMAGES is set; refusing to read images that may be truncated")
    try:
        with Image.open(path) as image:
            image.load()  # decode everything now, so truncation raises here
            rgb = _to_rgb(image, path)
    except FileNotFoundError:
        raise DataError(path, "image file not found") from None
    except (IsADirectoryError, PermissionError) as err:
        raise DataError(path, f"cannot read image file: {err.strerror}") from None
    except UnidentifiedImageError:
        raise DataError(path, "not a readable image file") from None
    except (OSError, SyntaxError, ValueError) as err:
        raise DataError(path, f"cannot decode image ({err}); the file may be truncated or corrupt") from None
    array = np.array(rgb, dtype=np.uint8)  # a writable copy
    if size is not None and array.shape[:2] != tuple(size):
        h, w = array.shape[:2]
        raise DataError(path, f"wrong image size: expected {size[0]}x{size[1]} (HxW), got {h}x{w}")
    return array


def _to_rgb(image: Image.Image, path: Path) -> Image.Image:
    """8-bit RGB. 16-bit grey keeps its high byte, as Pillow itself reads 16-bit RGB PNGs (``v >> 8``,
    exact for 8-bit data stored as ``v * 257``); Pillow's own ``convert`` would clip it to white."""
    if image.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        grey = np.asarray(image).astype(np.int64)
        if grey.min(initial=0) < 0 or grey.max(initial=0) > 65535:
            raise DataError(path, f"{image.mode} image with values outside 0..65535; expected an 8- or 16-bit image")
        return Image.fromarray((grey >> 8).astype(np.uint8)).convert("RGB")
    if image.mode == "F":
        raise DataError(path, "floating-point image; the metrics score 8-bit RGB (save it as 8-bit PNG or JPEG)")
    return image.convert("RGB")


IMAGE_SUFFIXES = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG"}


def image_format(path: str | Path) -> str:
    """The Pillow format of an image bench writes at ``path`` (by suffix); checked before any work."""
    path = Path(path)
    try:
        return IMAGE_SUFFIXES[path.suffix.lower()]
    except KeyError:
        raise DataError(path, f"image files must end in {', '.join(IMAGE_SUFFIXES)}") from None


def save_image(path: str | Path, array: np.ndarray, **options: Any) -> None:
    """Write a uint8 (H, W, 3) or (H, W) array atomically as PNG or JPEG (by suffix; PIL options pass
    through), signed (:data:`bench.io.SIGNATURE`) so that a later run may replace it and nothing else."""
    array = np.asarray(array)
    if array.dtype != np.uint8 or array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] != 3):
        raise ValueError(f"expected a uint8 (H, W, 3) or (H, W) array, got {array.dtype} {array.shape}")
    path = Path(path)
    fmt = image_format(path)
    image = Image.fromarray(array)
    if fmt == "PNG":
        from PIL.PngImagePlugin import PngInfo

        info = PngInfo()
        info.add_text("Software", SIGNATURE)
        options = {"pnginfo": info, **options}
    else:
        options = {"comment": SIGNATURE, **options}
    with atomic_path(path, IMAGE) as tmp:
        image.save(tmp, format=fmt, **options)
