"""DeepFashion evaluation geometries: the frame each paper scored its images in, and which metrics pad.

The papers score DeepFashion in three different geometries; a protocol names one
(``Protocol.fashion_geometry``). Market-1501 (128x64) has a single geometry:
nothing is resized or padded for any metric.

``patn`` (PATN, PoNA; today's ``paper`` protocol)
    Images 176x256 (WxH): PATN crops the 256x256 In-shop frame with box
    (40, 0, 216, 256) (tengteng95/Pose-Transfer tool/generate_fashion_datasets.py,
    README). tool/getMetrics_fashion.py pads every 176-wide panel with 40 px of white
    per side (``addBounding``) before **SSIM and IS only**, which it computes at
    256x256; PoNA's tool/getMetrics_fashion.py is the same script. PATN's PCKh crops are
    176x256, unpadded (tool/crop_fashion.py, box (704, 0, 880, 256)); PISE's PSNR
    (Zhangjinso/PISE util/psnr.py) crops 256-wide images to 176: unpadded. FID, KID and
    LPIPS appear in no PATN-geometry paper; they are scored unpadded here (no paper pads
    them). mask-SSIM and mask-IS are not computed on DeepFashion by PATN; ours pad like
    SSIM and IS, with black (the masked background), so the padding adds no signal.
``posegan`` (Def-GAN; Lakhal et al., Horiuchi et al.)
    The 256x256 frame itself (AliaksandrSiarohin/pose-gan cmd.py ``--image_size`` 256x256;
    its test.py scores SSIM and IS on the 256x256 images). Nothing is padded. The dataset
    folder is pose-gan's (``fasion-annotation-*.csv`` / ``fasion-pairs-*.csv``, the old
    split's 8,670 test pairs; protocol.md 1.3), a different image set from PATN's.
``gfla`` (GFLA; Tang et al.)
    GFLA resizes every image to 256x256 (RenYurui/Global-Flow-Local-Attention
    data/fashion_dataset.py ``load_size=256``, ``old_size=(256, 176)``; data/base_dataset.py
    ``F.resize(img, load_size)``: torchvision on a PIL image, bilinear) and maps keypoints
    with util/pose_utils.py ``cords_to_map`` (``y / 256 * 256``, ``x / 176 * 256``, then
    ``int``). script/metrics.py scores every metric on these 256x256 images, nothing
    padded. Tang et al. (AAAI 2021) train and test at 256x256 following GFLA. 176-wide
    images (targets, and generated images of models trained in the PATN frame) are
    resized the same way; 256x256 generated images are used as they are.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bench.errors import BenchError

PAD = 40  # px per side: 176 -> 256 (PATN getMetrics_fashion.py addBounding)
PATN_FRAME, POSEGAN_FRAME, MARKET_FRAME = (256, 176), (256, 256), (128, 64)


@dataclass(frozen=True)
class Geometry:
    name: str
    frame: tuple[int, int]  # (H, W) of the dataset folder's images
    size: tuple[int, int]  # (H, W) the metrics score, after the resize
    padded: frozenset[str] = frozenset()  # metrics whose images get PAD columns per side first
    source: str = ""

    def pad(self, metric: str) -> int:
        """Columns of padding per side before ``metric`` (white; black for masked images)."""
        return PAD if metric in self.padded else 0

    @property
    def resizes(self) -> bool:
        return self.frame != self.size


GEOMETRIES: dict[str, Geometry] = {
    "patn": Geometry("patn", PATN_FRAME, PATN_FRAME, frozenset({"ssim", "mask-ssim", "is", "mask-is"}),
                     "PATN/PoNA tool/getMetrics_fashion.py addBounding: SSIM and IS padded white to 256x256"),
    "posegan": Geometry("posegan", POSEGAN_FRAME, POSEGAN_FRAME, frozenset(),
                        "pose-gan 256x256 frame (cmd.py), old split; nothing padded"),
    "gfla": Geometry("gfla", PATN_FRAME, POSEGAN_FRAME, frozenset(),
                     "GFLA data/base_dataset.py F.resize to 256x256 (bilinear); nothing padded"),
}
MARKET = Geometry("market", MARKET_FRAME, MARKET_FRAME, frozenset(), "Market-1501 128x64; nothing resized or padded")


def get_geometry(name: str) -> Geometry:
    try:
        return GEOMETRIES[name]
    except KeyError:
        raise BenchError(f"unknown DeepFashion geometry {name!r}; valid: {', '.join(GEOMETRIES)}") from None


def geometry_of(kind_name: str, fashion_geometry: str) -> Geometry:
    """The geometry a dataset kind is scored in under a protocol's ``fashion_geometry``."""
    return MARKET if kind_name == "market" else get_geometry(fashion_geometry)


def check_frame(geometry: Geometry, image_size: tuple[int, int], protocol: str, where: str) -> None:
    """The dataset folder must hold the geometry's frame: one line saying which folder would."""
    if tuple(image_size) == geometry.frame:
        return
    h, w = image_size
    wants = {"posegan": "a pose-gan-frame folder (fasion-annotation-*.csv, 256x256 images)",
             "patn": "a PATN-frame folder (fasion-resize-annotation-*.csv, 256x176 images)",
             "gfla": "a PATN-frame folder (fasion-resize-annotation-*.csv, 256x176 images)"}.get(geometry.name, "")
    raise BenchError(f"{where}: protocol {protocol!r} ({geometry.name} geometry) reads DeepFashion folders of "
                     f"{geometry.frame[0]}x{geometry.frame[1]} images, but this folder holds {h}x{w} images; "
                     f"use {wants} or another protocol")


# ----------------------------------------------------------------------------- the resize (gfla)


def resize_image(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(H, W, 3) uint8 -> ``size`` (H, W) with PIL's bilinear filter, as torchvision's F.resize on a PIL image."""
    from PIL import Image

    if image.shape[:2] == tuple(size):
        return image
    return np.array(Image.fromarray(image).resize((size[1], size[0]), Image.BILINEAR))  # writable


def resize_images(images: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    if images.shape[1:3] == tuple(size):
        return images
    out = np.empty((len(images), *size, 3), dtype=np.uint8)
    for i, image in enumerate(images):
        out[i] = resize_image(image, size)
    return out


def scale_keypoints(keypoints: np.ndarray, frame: tuple[int, int], size: tuple[int, int]) -> np.ndarray:
    """(..., 18, 2) (y, x) from ``frame`` to ``size``: ``int(y / H0 * H1)``, ``int(x / W0 * W1)``
    (GFLA cords_to_map); -1 stays -1."""
    kp = np.asarray(keypoints)
    if tuple(frame) == tuple(size):
        return kp
    # float64 division then multiplication, in GFLA's order, then int(): truncation toward zero
    scaled = np.trunc(kp.astype(np.float64) / np.array(frame, dtype=np.float64) * np.array(size, dtype=np.float64))
    missing = (kp == -1).any(-1, keepdims=True)
    return np.where(missing, -1, scaled).astype(kp.dtype)


def conform(image: np.ndarray, geometry: Geometry) -> np.ndarray | None:
    """A generated image in the geometry's scored size: as it is, or resized from the dataset frame; None if neither."""
    shape = tuple(image.shape[:2])
    if shape == geometry.size:
        return image
    if shape == geometry.frame:
        return resize_image(image, geometry.size)
    return None
