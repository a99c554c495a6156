"""Multi-source tuple files at use time: which file serves n sources, one name per tuple, datasets.

``bench data prepare --multi-source K`` writes ``msource-{split}-k{K}.csv``
(``to,from_1,...,from_K``); every k-file of one run holds the first k sources of
the same draw. A run with n sources therefore reads the file of the smallest
prepared K >= n (looked up in the prepared pairs folder, then the dataset root)
and keeps the first n sources of each row, so n = 1, 3, 10 score the same targets
with nested source sets (Horiuchi et al. Table 1, Fig. 3).

Names. A tuple file may repeat a (from_1, to) pair: tuples are distinct as a whole,
not in their first source (an identity with m images yields m(m-1) tuples, as many
as it has ordered pairs, drawn at random). Each tuple gets a *pair key*
``(from_key, to)``, unique in the file and the same for every n:

* the first row with a given (from_1, to): ``from_key = from_1``;
* its m-th row (m = 2, 3, ... in file order): ``from_key = f"{from_1}~{m}"``.

The generated image of a tuple is ``{from_key}___{to}.png`` (``bench generate
--sources n``), and the per-pair CSV of ``bench evaluate --sources n`` has
``from_key`` in its ``from`` column, so results for different n or models align
row by row.
"""
from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from torch.utils.data import Dataset

from bench.data.layout import DatasetLayout
from bench.errors import BenchError, DataError

REPEAT_MARK = "~"
NAMING_RULE = ("{from_key}___{to}.png in tuple order; from_key = from_1 for the first row with that (from_1, to), "
               f"from_1{REPEAT_MARK}m for its m-th row (m >= 2)")
Tuple = tuple[str, tuple[str, ...]]


def tuple_file_name(split: str, k: int) -> str:
    return f"msource-{split}-k{k}.csv"


def prepared_ks(folder: Path, split: str) -> list[int]:
    """The K of every ``msource-{split}-k{K}.csv`` in ``folder``, ascending."""
    pattern = re.compile(rf"msource-{re.escape(split)}-k(\d+)\.csv")
    if not folder.is_dir():
        return []
    return sorted(int(m.group(1)) for p in folder.iterdir() if (m := pattern.fullmatch(p.name)))


def tuple_file(layout: DatasetLayout, split: str, n: int) -> Path:
    """The tuple file serving n sources: the smallest prepared K >= n (pairs folder first, then the root)."""
    if n < 1:
        raise BenchError(f"the number of sources must be >= 1, got {n}")
    seen: dict[Path, list[int]] = {}
    for folder in dict.fromkeys(f for f in (layout.pairs_dir, layout.root) if f is not None):
        ks = prepared_ks(folder, split)
        seen[folder] = ks
        usable = [k for k in ks if k >= n]
        if usable:
            return folder / tuple_file_name(split, usable[0])
    found = "; ".join(f"{folder}: {', '.join(f'k{k}' for k in ks) or 'none'}" for folder, ks in seen.items())
    raise DataError(layout.pairs_dir or layout.root,
                    f"no multi-source {split} tuples with at least {n} sources (found {found}): run "
                    f"`bench data prepare ... --multi-source {n}` (or a larger K)")


def pair_keys(tuples: Sequence[Tuple], where: Path | str = "<tuples>") -> list[tuple[str, str]]:
    """One unique ``(from_key, to)`` per tuple (see the module docstring)."""
    seen: Counter[tuple[str, str]] = Counter()
    keys = []
    for to, sources in tuples:
        seen[(sources[0], to)] += 1
        m = seen[(sources[0], to)]
        keys.append((sources[0] if m == 1 else f"{sources[0]}{REPEAT_MARK}{m}", to))
    if len(set(keys)) != len(keys):  # only if an image name itself ends in ~m
        raise DataError(where, f"image names containing {REPEAT_MARK!r} make the per-tuple names collide")
    return keys


class SingleSourceView(Dataset):
    """Items of a one-source :class:`MultiSourceDataset` as pair items (no source axis), for single-source models."""

    def __init__(self, dataset: Dataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int):
        item = dict(self.dataset[index])
        for key in ("source", "source_pose", "source_keypoints"):
            if item[key].shape[0] != 1:
                raise BenchError(f"a single-source model got {item[key].shape[0]} sources")
            item[key] = item[key][0]
        item["from"] = item["from"][0]
        return item


def takes_multiple_sources(model_name: str) -> bool:
    from bench.registry import MODELS

    return MODELS.get(model_name).meta.multi_source


def check_model_sources(model_name: str, n: int) -> None:
    """Only models registered with ``multi_source=True`` take n >= 2 sources (any model takes n = 1)."""
    from bench.registry import MODELS

    if n >= 2 and not takes_multiple_sources(model_name):
        multi = [name for name in MODELS.names() if takes_multiple_sources(name)]
        raise BenchError(f"{model_name} takes a single source image, so it cannot use {n} sources; "
                         f"multi-source models: {', '.join(multi) or 'none registered'}")


def tuple_dataset(layout: DatasetLayout, split: str, n: int, model_name: str, flip: bool = False) -> tuple[Dataset, Path]:
    """The dataset of the n-source tuples of ``split`` as ``model_name`` takes them, and the file it reads."""
    from bench.data.dataset import MultiSourceDataset

    check_model_sources(model_name, n)
    path = tuple_file(layout, split, n)
    images_split = "test" if split == "test" else "train"  # validation tuples come from the train images
    dataset: Dataset = MultiSourceDataset(layout, images_split, path, k=n, flip=flip)
    if not takes_multiple_sources(model_name):
        dataset = SingleSourceView(dataset)
    return dataset, path


def training_set(layout: DatasetLayout, model_name: str, sources: int, flip: bool = False) -> tuple[Dataset, Path]:
    """What ``model_name`` trains on and the file listing it: the K-source tuples (``sources`` K >= 1) or the pairs."""
    if sources:
        return tuple_dataset(layout, "train", sources, model_name, flip=flip)
    from bench.data.dataset import PairDataset

    return PairDataset(layout, "train", flip=flip), layout.pairs("train")
