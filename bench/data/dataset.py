"""Torch datasets of (source, target) pairs and multi-source tuples.

Items are the batch dicts documented in ``bench.models.base``: images in
[-1, 1] (``ToTensor`` then ``Normalize(0.5, 0.5)``, done here in plain torch),
18-channel Gaussian heatmaps computed on the fly from the annotation
keypoints (``bench.data.pose.heatmaps``, sigma 6 as PATN), the keypoints
themselves as float (y, x) with -1 for missing, and the image names.

Geometry. Market-1501 images are 128x64 (HxW). DeepFashion follows the PATN
protocol: 176 wide x 256 high, cropped from the 256x256 In-shop frame with box
(40, 0, 216, 256), so keypoints of the 256 frame move by -40 in x. The
``fasion-resize-annotation-*.csv`` files of our layout already hold keypoints
in the 176-wide frame; nothing is shifted here, and every image must have the
layout's size exactly (``load_image`` raises otherwise).

Flip (training augmentation, off by default): with probability ``flip_p`` an
item is mirrored as a whole, source(s) and target alike: images reversed along
x; present keypoints move to ``x -> W - 1 - x`` and swap left/right
(``FLIP_PERMUTATION``), so a left shoulder stays a left shoulder in channel 5.
Heatmaps are computed after the flip, so they agree with the keypoints.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, default_collate

from bench.data.annotations import read_annotations, read_pairs
from bench.data.images import load_image
from bench.data.keypoints import FLIP_PERMUTATION, MISSING
from bench.data.layout import DatasetLayout
from bench.data.pose import heatmaps
from bench.errors import DataError

Batch = dict[str, Any]
#: Decoded images kept in memory per dataset object: all of Market-1501's training images (~320 MB);
#: DeepFashion's 256x176 set (~7 GB) only partly, the rest is decoded on every use.
DECODE_CACHE_BYTES = 2 << 30


def to_tensor(image: np.ndarray) -> torch.Tensor:
    """uint8 (H, W, 3) -> float (3, H, W) in [-1, 1]."""
    return torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float().div(255.0).sub(0.5).div(0.5)


def flip_keypoints(keypoints: np.ndarray, width: int) -> np.ndarray:
    """Mirror (..., 18, 2) keypoints: swap left/right, ``x -> width - 1 - x`` for present points."""
    kp = np.array(keypoints)[..., list(FLIP_PERMUTATION), :]
    present = (kp[..., 0] != MISSING) & (kp[..., 1] != MISSING)
    kp[..., 1] = np.where(present, width - 1 - kp[..., 1], kp[..., 1])
    return kp


def flip_image(image: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(image[:, ::-1])


class _Base(Dataset):
    def __init__(self, layout: DatasetLayout, split: str, flip: bool, flip_p: float, sigma: float):
        self.layout, self.split = layout, split
        self.size = layout.kind.image_size
        self.flip, self.flip_p, self.sigma = flip, flip_p, sigma
        self.annotations = read_annotations(layout.annotations(split), image_size=self.size)
        self.image_dir = layout.images(split)
        self._decoded: dict[str, np.ndarray] = {}
        self._decoded_bytes = 0

    def _check(self, names: Sequence[str], listing: Path, line_of: Sequence[int]) -> None:
        """Every referenced image must be annotated and present on disk (fail early, name the line)."""
        for name, line in zip(names, line_of):
            if name not in self.annotations:
                raise DataError(listing, f"image {name!r} has no annotation in {self.layout.annotations(self.split).name}", line)
        missing = sorted({n for n in names if not (self.image_dir / n).is_file()})
        if missing:
            raise DataError(self.image_dir, f"{len(missing)} image(s) listed in {listing.name} are missing, e.g. {missing[0]!r}")

    def _image(self, name: str) -> np.ndarray:
        """The decoded image, from memory after its first use (each image is decoded once per run
        while the cache holds under DECODE_CACHE_BYTES; per DataLoader worker)."""
        image = self._decoded.get(name)
        if image is None:
            image = load_image(self.image_dir / name, size=self.size)
            if self._decoded_bytes + image.nbytes <= DECODE_CACHE_BYTES:
                # Shared by every later item: flips copy it and to_tensor's float() copies it.
                self._decoded[name] = image
                self._decoded_bytes += image.nbytes
        return image

    def _load(self, name: str, flipped: bool) -> tuple[np.ndarray, np.ndarray]:
        image = self._image(name)
        kp = self.annotations[name]
        if flipped:
            image, kp = flip_image(image), flip_keypoints(kp, self.size[1])
        return image, kp

    def _pose_fields(self, images: list[np.ndarray], kps: list[np.ndarray]) -> tuple[torch.Tensor, ...]:
        kp = torch.from_numpy(np.stack(kps)).float()
        return torch.stack([to_tensor(im) for im in images]), heatmaps(kp, self.size, self.sigma), kp

    def _draw_flip(self) -> bool:
        return self.flip and bool(torch.rand(()) < self.flip_p)


class PairDataset(_Base):
    """(source, target) pairs of ``layout.pairs(split)`` (or ``pairs``), as batch dicts."""

    def __init__(
        self,
        layout: DatasetLayout,
        split: str,
        pairs: Sequence[tuple[str, str]] | None = None,
        flip: bool = False,
        sigma: float = 6.0,
        flip_p: float = 0.5,
    ):
        super().__init__(layout, split, flip, flip_p, sigma)
        listing = layout.pairs(split) if pairs is None else Path("<pairs argument>")
        self.pairs = list(read_pairs(listing) if pairs is None else pairs)
        names = [n for pair in self.pairs for n in pair]
        self._check(names, listing, [2 + i // 2 for i in range(len(names))])

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> Batch:
        source_name, target_name = self.pairs[index]
        flipped = self._draw_flip()
        (src, src_kp), (tgt, tgt_kp) = self._load(source_name, flipped), self._load(target_name, flipped)
        images, poses, kps = self._pose_fields([src, tgt], [src_kp, tgt_kp])
        return {
            "source": images[0], "source_pose": poses[0], "source_keypoints": kps[0],
            "target": images[1], "target_pose": poses[1], "target_keypoints": kps[1],
            "from": source_name, "to": target_name,
        }


class MultiSourceDataset(_Base):
    """(target, K sources) tuples: ``source`` (K, 3, H, W), ``source_pose`` (K, 18, H, W), ...

    ``tuples`` is a CSV path (``to,from_1,...,from_K``, as written by
    ``bench data prepare --multi-source``) or a list of ``(to, (from_1, ...))``;
    ``k`` keeps the first k sources. ``from`` is the list of the K source names.
    """

    def __init__(
        self,
        layout: DatasetLayout,
        split: str,
        tuples: str | Path | Sequence[tuple[str, Sequence[str]]],
        k: int | None = None,
        flip: bool = False,
        sigma: float = 6.0,
        flip_p: float = 0.5,
    ):
        super().__init__(layout, split, flip, flip_p, sigma)
        if isinstance(tuples, (str, Path)):
            from bench.data.splits import read_tuples

            listing, rows = Path(tuples), read_tuples(tuples, k)
        else:
            listing, rows = Path("<tuples argument>"), [(to, tuple(src)[:k] if k else tuple(src)) for to, src in tuples]
        if len({len(src) for _, src in rows}) > 1:
            raise DataError(listing, "tuples hold different numbers of sources")
        self.tuples = rows
        names = [n for to, sources in rows for n in (to, *sources)]
        lines = [line for line, (_, sources) in enumerate(rows, start=2) for _ in range(1 + len(sources))]
        self._check(names, listing, lines)

    def __len__(self) -> int:
        return len(self.tuples)

    def __getitem__(self, index: int) -> Batch:
        target_name, source_names = self.tuples[index]
        flipped = self._draw_flip()
        loaded = [self._load(n, flipped) for n in (*source_names, target_name)]
        images, poses, kps = self._pose_fields([im for im, _ in loaded], [kp for _, kp in loaded])
        return {
            "source": images[:-1], "source_pose": poses[:-1], "source_keypoints": kps[:-1],
            "target": images[-1], "target_pose": poses[-1], "target_keypoints": kps[-1],
            "from": list(source_names), "to": target_name,
        }


def collate(items: list[Batch]) -> Batch:
    """Stack tensors; keep names as lists (``from`` of multi-source items: a list of K-lists)."""
    names = {key: [item[key] for item in items] for key in ("from", "to")}
    tensors = default_collate([{k: v for k, v in item.items() if k not in names} for item in items])
    return {**tensors, **names}
