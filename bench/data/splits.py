"""Pair splits with the original rule, multi-source tuples, and the split manifest.

Pairs (pose-gan ``create_pairs_dataset.py``, copied by PATN; protocol.md 1.3):

1. drop images whose name starts with ``-1`` or ``0000`` (Market junk and distractors);
2. drop images lacking either shoulder or either hip (``REQUIRED_FOR_PAIRS``);
3. identity = ``DatasetKind.identity(name)``: Market, the name up to the first ``_``
   (the person id); DeepFashion, everything up to ``id`` + 10 digits (gender +
   category + 8-digit item id + 2-digit outfit index), which equals pose-gan's
   ``split('_')[0]`` on its ``fasion...`` names and survives PATN's underscores;
4. train: every ordered pair (a, b), a != b, of one identity. Identities come in
   order of first appearance in the file (``pd.unique``); within one, the pairs
   come in ``itertools.permutations`` order over the file order;
5. test: the same candidates, then ``DataFrame.sample(n=min(12000, N),
   random_state=0)``, i.e. rows ``RandomState(0).choice(N, n, replace=False)``
   in drawn order; with N <= 12000 that is a seeded shuffle of all N.

On the real Market CSVs this gives 263,632 train and 12,000 test pairs, the test
file row for row. Official pair files (given, or ``{pairs_prefix}-{split}.csv``
in the dataset root) replace the rule for their split after validation.

Multi-source tuples (Horiuchi et al., after MS-DefGAN ``create_tuples_dataset.py``)
are described in :class:`MultiSourceConfig`. Nothing is written unless every check
passed; each file is then written atomically, the manifest last.
"""
from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from itertools import chain, permutations
from pathlib import Path
from typing import Any

import numpy as np

from bench.data.annotations import Annotations, format_pairs, read_annotations, read_pairs
from bench.data.keypoints import MISSING, REQUIRED_FOR_PAIRS
from bench.data.layout import KINDS, SPLITS, DatasetKind, DatasetLayout
from bench.errors import BenchError, DataError
from bench.io import atomic_write_bytes, atomic_write_json, provenance, read_text

IMAGES_FOR_TEST = 12000  # pose-gan cmd.py --images_for_test
SEED = 0
DISTRACTOR_PREFIXES = ("-1", "0000")
PAIR_RULE = (
    "pose-gan create_pairs_dataset.py: drop names starting with -1/0000 and images lacking "
    "r/l shoulder or r/l hip; all ordered pairs within an identity (identities in order of first "
    "appearance, permutation order within); test = RandomState(seed).choice(N, min(images_for_test, N), "
    "replace=False), identical to pandas DataFrame.sample(n, random_state=seed)"
)
# Horiuchi et al. sec. 4.1: identities with at least 13 (Market) / 4 (DeepFashion) images.
MIN_INSTANCES = {"market": 13, "deepfashion": 4}
PairList = list[tuple[str, str]]


# --------------------------------------------------------------------------- pair rule
@dataclass
class Filtered:
    """Images of one annotation file that pass the pair filters, in file order."""

    kept: list[str]
    dropped: dict[str, list[str]] = field(default_factory=dict)  # reason -> names


def filter_images(annotations: Annotations) -> Filtered:
    required = list(REQUIRED_FOR_PAIRS)
    out = Filtered(kept=[], dropped={"distractor": [], "missing_torso_keypoints": []})
    for name, kp in annotations.items():
        if name.startswith(DISTRACTOR_PREFIXES):
            out.dropped["distractor"].append(name)
        elif (kp[required] == MISSING).any():
            out.dropped["missing_torso_keypoints"].append(name)
        else:
            out.kept.append(name)
    return out


def group_by_identity(names: Iterable[str], kind: DatasetKind) -> dict[str, list[str]]:
    """``{identity: names}``; dicts keep insertion order, which is ``pd.unique`` order."""
    groups: dict[str, list[str]] = {}
    for name in names:
        groups.setdefault(kind.identity(name), []).append(name)
    return groups


def candidate_pairs(groups: Mapping[str, Sequence[str]]) -> PairList:
    return [pair for names in groups.values() for pair in permutations(names, 2)]


def sample_rows(n_rows: int, n: int | None, seed: int = SEED) -> np.ndarray:
    """The row indices ``DataFrame.sample(n=min(n, n_rows), random_state=seed)`` picks, in its order."""
    size = n_rows if n is None else min(n, n_rows)
    return np.random.RandomState(seed).choice(n_rows, size, replace=False)


def sample_test_pairs(candidates: PairList, images_for_test: int | None = IMAGES_FOR_TEST, seed: int = SEED) -> PairList:
    return [candidates[i] for i in sample_rows(len(candidates), images_for_test, seed)]


# --------------------------------------------------------------------- multi-source
@dataclass(frozen=True)
class MultiSourceConfig:
    """Multi-source tuples after Horiuchi et al. (sec. 4.1) and MS-DefGAN.

    The paper states only the minimum number of images per identity (13 Market,
    4 DeepFashion) and the resulting counts. Our choices for what it leaves open:

    - images pass the same filters as pairs first (MS-DefGAN reuses pose-gan's
      ``filter_not_valid``); ``min_instances`` counts kept images;
    - train and validation come from the train annotations, validation being a
      seeded ``val_fraction`` of the eligible train identities (the paper's
      23,913 / (215,750 + 23,913) is 10%); test comes from the test annotations,
      so all three are identity-disjoint and model selection never sees test people;
    - per identity with m images, m(m-1) distinct (target, source_1..source_K)
      tuples are drawn uniformly (MS-DefGAN draws m(m-1) of the (K+1)-permutations
      with ``random.sample``; tuple counts therefore equal pair counts);
    - one draw with K = max(k) serves every requested k: the k-source file holds
      the first k sources of the same rows, so n = 1, 3, 10 are compared on the
      same targets with nested source sets (as in the paper's Fig. 3). The
      default K is ``min_instances - 1`` (12 Market, 3 DeepFashion: the numbers
      of inputs the paper trains with);
    - the test split is not subsampled unless ``max_test`` is given (then by
      ``sample_rows`` like the pair test split).

    On the real Market CSVs with the defaults this gives 216,912 / 28,042 /
    239,918 train / validation / test tuples; the paper reports 215,750 /
    23,913 / 23,491. Why they differ, from MS-DefGAN's tuple script
    (Stephlat/Multi-source-Human-Image-Generation ``create_tuples_dataset.py``,
    which the README runs with ``--nb_inputs 12``):

    - test: the script draws the tuples of every test person, then keeps a sample of
      ``images_for_test`` of them (``DataFrame.sample(random_state=0)``). Without
      ``max_test`` we keep all 239,918; ``max_test=23491`` (params.yaml
      ``multi_source.market``) gives the paper's count. Not the same tuples: the
      script draws with Python 2's ``random.sample`` over ``itertools.permutations``,
      unseeded, so no one can redraw them;
    - train / validation: the script has no validation split (all train persons
      with >= 13 valid images go to train). Horiuchi et al. hold out 23,913 tuples
      without saying how; 23,913 / 239,663 = 9.98% of their tuples suggests ~10%.
      Their train + validation total, 239,663, is 5,291 (2.2%) below ours, 244,954,
      with the same rule (filter_not_valid, then m(m-1) tuples per person with
      m >= 13 images): their annotation file or keypoint filter must differ, which
      the paper does not document. These two counts are therefore not made equal.
    """

    k: tuple[int, ...] = ()
    min_instances: int | None = None  # None: MIN_INSTANCES[kind]
    val_fraction: float = 0.1
    max_test: int | None = None
    seed: int = SEED

    @classmethod
    def from_params(cls, params: Mapping[str, Any], dataset: str, where: Path) -> "MultiSourceConfig | None":
        """``multi_source.<dataset>`` of params.yaml (``k``, ``max_test``, ...); None when the dataset has none."""
        given = (params.get("multi_source") or {}).get(dataset)
        if given is None:
            return None
        if not isinstance(given, dict) or not isinstance(given.get("k"), list) or not given["k"] \
                or not all(isinstance(k, int) and k >= 1 for k in given["k"]):
            raise DataError(where, f"multi_source.{dataset} needs k: a list of source counts >= 1, got {given!r}")
        unknown = set(given) - {"k", "max_test", "min_instances", "val_fraction"}
        if unknown:
            raise DataError(where, f"multi_source.{dataset}: unknown key(s) {', '.join(sorted(unknown))}")
        return cls(k=tuple(sorted(set(given["k"]))), max_test=given.get("max_test"),
                   min_instances=given.get("min_instances"), val_fraction=given.get("val_fraction", 0.1))


Tuple = tuple[str, tuple[str, ...]]  # (target, sources)


def eligible_groups(groups: Mapping[str, list[str]], min_instances: int) -> dict[str, list[str]]:
    return {ident: names for ident, names in groups.items() if len(names) >= min_instances}


def hold_out(groups: Mapping[str, list[str]], fraction: float, seed: int) -> tuple[dict, dict]:
    """Split identities into (kept, held out); ``round(fraction * n)`` held out, file order kept."""
    idents = list(groups)
    n_out = int(round(fraction * len(idents)))
    chosen = set(np.random.RandomState(seed).choice(len(idents), n_out, replace=False).tolist())
    kept = {i: groups[i] for j, i in enumerate(idents) if j not in chosen}
    out = {i: groups[i] for j, i in enumerate(idents) if j in chosen}
    return kept, out


def _draw_distinct(m: int, length: int, count: int, rng: np.random.RandomState) -> list[tuple[int, ...]]:
    """``count`` distinct ordered ``length``-tuples of distinct indices < m, uniformly, in draw order."""
    seen: dict[tuple[int, ...], None] = {}
    while len(seen) < count:
        batch = np.argsort(rng.random_sample((count - len(seen), m)), axis=1)[:, :length]
        for row in map(tuple, batch.tolist()):
            if len(seen) < count:
                seen.setdefault(row, None)
    return list(seen)


def make_tuples(groups: Mapping[str, list[str]], k: int, seed: int = SEED) -> list[Tuple]:
    """m(m-1) distinct (target, k sources) tuples per identity, identities in file order."""
    rng = np.random.RandomState(seed)
    tuples: list[Tuple] = []
    for names in groups.values():
        if len(names) < k + 1:
            raise BenchError(f"identity of {names[0]!r} has {len(names)} images, fewer than k+1 = {k + 1}")
        for row in _draw_distinct(len(names), k + 1, len(names) * (len(names) - 1), rng):
            tuples.append((names[row[0]], tuple(names[i] for i in row[1:])))
    return tuples


def format_tuples(tuples: Iterable[Tuple], k: int) -> str:
    header = ",".join(["to"] + [f"from_{i}" for i in range(1, k + 1)])
    return header + "\n" + "".join(",".join((to, *sources[:k])) + "\n" for to, sources in tuples)


def read_tuples(path: str | Path, k: int | None = None) -> list[Tuple]:
    """Read ``to,from_1,...,from_K``; with ``k`` keep the first k sources (k <= K)."""
    path = Path(path)
    lines = read_text(path, "tuples file").splitlines()
    header = lines[0].split(",") if lines else []
    n = len(header) - 1
    if n < 1 or header != ["to"] + [f"from_{i}" for i in range(1, n + 1)]:
        raise DataError(path, f"header must be 'to,from_1,...,from_k', got {lines[0] if lines else ''!r}", 1)
    if k is not None and not 1 <= k <= n:
        raise DataError(path, f"asked for {k} sources but the file holds {n}")
    out = []
    for number, row in enumerate(lines[1:], start=2):
        fields = row.split(",")
        if len(fields) != n + 1 or not all(fields):
            raise DataError(path, f"expected {n + 1} non-empty comma-separated fields, got {row!r}", number)
        out.append((fields[0], tuple(fields[1 : 1 + (k or n)])))
    return out


# ------------------------------------------------------------------- inputs & checks
@dataclass
class SplitInput:
    annotations: Path | None = None
    official_pairs: Path | None = None


def _guess_kind(paths: Iterable[Path | None]) -> DatasetKind:
    for path in paths:
        if path is None:
            continue
        if path.name.startswith("market"):
            return KINDS["market"]
        if path.name.startswith(("fasion", "fashion")):
            return KINDS["deepfashion"]
    raise BenchError("cannot tell the dataset kind from the annotation file names: pass kind ('market' or 'deepfashion')")


def _numbered_pairs(path: Path) -> list[tuple[int, str, str]]:
    """``read_pairs`` with the 1-based line of each pair (it skips the same blank lines)."""
    pairs = read_pairs(path)
    numbers = [i for i, row in enumerate(read_text(path, "pairs file").splitlines()[1:], start=2) if row.strip()]
    return [(line, a, b) for line, (a, b) in zip(numbers, pairs)]


def check_official_pairs(path: Path, annotations: Annotations) -> PairList:
    """Official pairs, every name present in the annotations; errors give the line."""
    pairs = []
    for line, a, b in _numbered_pairs(path):
        for name in (a, b):
            if name not in annotations:
                raise DataError(path, f"image {name!r} is not in the annotations", line)
        pairs.append((a, b))
    if not pairs:
        raise DataError(path, "pairs file holds no pairs")
    return pairs


def _load_image_checker():
    try:
        from bench.data.images import load_image
    except ImportError:  # helper module not there: decode with PIL ourselves
        load_image = _decode_image
    return load_image


def _decode_image(path: Path, size: tuple[int, int] | None = None) -> None:
    from PIL import Image

    try:
        with Image.open(path) as image:
            image.load()  # full decode: a truncated JPEG fails here, not at open
            shape = (image.height, image.width)
    except (OSError, SyntaxError, ValueError) as err:
        raise DataError(path, f"cannot decode image: {err}") from None
    if size is not None and shape != tuple(size):
        raise DataError(path, f"image is {shape[0]}x{shape[1]} (HxW), expected {size[0]}x{size[1]}")


def check_images(folder: Path, names: Sequence[str], size: tuple[int, int], source: Path) -> None:
    """Every image exists, decodes fully and has the dataset's size."""
    from tqdm import tqdm

    if not folder.is_dir():
        raise DataError(folder, f"image folder does not exist (needed for the images named in {source})")
    load = _load_image_checker()
    for name in tqdm(names, desc=f"checking {folder.name}/ images", file=sys.stderr, unit="img", leave=False):
        path = folder / name
        if not path.is_file():
            raise DataError(path, f"image named in {source} does not exist")
        load(path, size)


def referenced(pairs: Iterable[tuple[str, str]]) -> list[str]:
    return list(dict.fromkeys(chain.from_iterable(pairs)))


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# ------------------------------------------------------------------------ prepare
@dataclass
class SplitResult:
    name: str
    annotations: Annotations
    filtered: Filtered
    pairs: PairList
    source: str  # "rule" or the official pairs path
    candidates: int | None = None
    identities: list[str] = field(default_factory=list)


def _build_split(split: str, inputs: SplitInput, kind: DatasetKind, image_size, images_for_test, seed) -> SplitResult:
    path = inputs.annotations
    annotations = read_annotations(path, image_size)
    if not annotations:
        raise DataError(path, "annotation file lists no images")
    filtered = filter_images(annotations)
    if inputs.official_pairs is not None:
        pairs = check_official_pairs(inputs.official_pairs, annotations)
        result = SplitResult(split, annotations, filtered, pairs, str(inputs.official_pairs))
    else:
        candidates = candidate_pairs(group_by_identity(filtered.kept, kind))
        if not candidates:
            raise DataError(path, f"no identity has two images that pass the pair filters ({len(filtered.kept)} of "
                                  f"{len(annotations)} images kept): the {split} split would be empty")
        pairs = candidates if split == "train" else sample_test_pairs(candidates, images_for_test, seed)
        result = SplitResult(split, annotations, filtered, pairs, "rule", len(candidates))
    result.identities = sorted({kind.identity(name) for name in referenced(result.pairs)})
    return result


def _check_disjoint(named: Mapping[str, Iterable[str]], sources: Mapping[str, Path]) -> None:
    """Refuse splits sharing an identity; the error names the later split's file."""
    items = [(split, set(ids)) for split, ids in named.items()]
    for i, (a, ids_a) in enumerate(items):
        for b, ids_b in items[i + 1 :]:
            shared = sorted(ids_a & ids_b)
            if shared:
                raise DataError(sources[b], f"{b} shares {len(shared)} identities with {a} ({sources[a]}), e.g. "
                                            f"{shared[:5]}: refusing a split that leaks identities")


def _resolve_inputs(dataset, annotations_train, annotations_test, official_train, official_test, use_official):
    layout = DatasetLayout.open(dataset) if dataset is not None else None
    given = {"train": annotations_train, "test": annotations_test}
    official = {"train": official_train, "test": official_test}
    inputs: dict[str, SplitInput] = {}
    for split in SPLITS:
        ann = Path(given[split]) if given[split] is not None else None
        if ann is None and layout is not None and layout.annotations(split).exists():
            ann = layout.annotations(split)
        off = Path(official[split]) if official[split] is not None else None
        if off is None and use_official and layout is not None:
            found = layout.root / f"{layout.kind.pairs_prefix}-{split}.csv"
            off = found if found.exists() else None
        if off is not None and ann is None:
            raise DataError(off, f"official {split} pairs given without {split} annotations to check them against")
        if ann is not None:
            for path in (ann, off):
                if path is not None and not path.is_file():
                    raise DataError(path, "file does not exist")
            inputs[split] = SplitInput(ann, off)
    if not inputs:
        raise BenchError("nothing to prepare: give --dataset or --annotations-train/--annotations-test")
    return layout, inputs


def prepare(
    dataset: str | Path | None = None,
    annotations_train: str | Path | None = None,
    annotations_test: str | Path | None = None,
    out: str | Path = "prepared",
    official_pairs_train: str | Path | None = None,
    official_pairs_test: str | Path | None = None,
    use_official: bool = True,
    kind: str | None = None,
    image_size: tuple[int, int] | None = None,
    images_for_test: int | None = IMAGES_FOR_TEST,
    seed: int = SEED,
    check_image_files: bool = True,
    multi_source: MultiSourceConfig | None = None,
) -> dict[str, Any]:
    """Build, check and write ``pairs-{split}.csv`` (+ multi-source tuples) and ``manifest.json`` in ``out``.

    Splits come from the annotations found in ``dataset`` (``DatasetLayout``) or
    given directly; the kind (image size, identity rule) from the folder, the file
    names or ``kind``. ``image_size`` overrides the keypoint frame (pose-gan's
    fashion CSVs are 256x256). Images are checked (exist, decode, size) only when
    ``dataset`` is given and ``check_image_files``. With ``multi_source`` also
    ``msource-{train,validation,test}-k{k}.csv``. Files of earlier runs that this
    run does not produce are left alone; the manifest lists what this run wrote.
    Returns the manifest.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise BenchError(f"--out {out} exists and is not a folder")
    check_own_outputs(out, ["pairs-train.csv", "pairs-test.csv", MANIFEST])  # before the work; again before writing
    layout, inputs = _resolve_inputs(dataset, annotations_train, annotations_test,
                                     official_pairs_train, official_pairs_test, use_official)
    kind_ = _resolve_kind(layout, kind, inputs)
    size = tuple(image_size) if image_size is not None else kind_.image_size
    results = {split: _build_split(split, inp, kind_, size, images_for_test, seed) for split, inp in inputs.items()}
    _check_disjoint({s: r.identities for s, r in results.items()},
                    {s: i.official_pairs or i.annotations for s, i in inputs.items()})

    files = {f"pairs-{split}.csv": format_pairs(r.pairs).encode() for split, r in results.items()}
    used = {split: referenced(r.pairs) for split, r in results.items()}
    tuples_summary = None
    if multi_source is not None and multi_source.k:
        tuples_summary = _multi_source(results, kind_, multi_source, files, used, inputs)
    if layout is not None and check_image_files:
        for split in results:
            check_images(layout.images(split), used[split], size, inputs[split].official_pairs or inputs[split].annotations)

    manifest = _manifest(kind_, size, inputs, results, files, tuples_summary, images_for_test, seed,
                         images_checked=layout is not None and check_image_files)
    check_own_outputs(out, [*files, MANIFEST])
    for name, data in files.items():
        atomic_write_bytes(out / name, data)
    atomic_write_json(out / MANIFEST, manifest)
    return manifest


MANIFEST = "manifest.json"


def check_own_outputs(out: Path, names: Iterable[str]) -> None:
    """Refuse to replace a file in ``out`` that an earlier ``bench data prepare`` did not write, or that was
    changed since: its manifest lists the sha256 of every file it wrote (``--out`` may be a dataset folder)."""
    existing = [name for name in names if (out / name).exists()]
    if not existing:
        return
    try:
        previous = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
        written = previous["outputs"] if "rule" in previous else {}
    except (OSError, ValueError, TypeError, KeyError):
        written = {}
    for name in existing:
        path = out / name
        ours = isinstance(written, dict) and bool(written) and (
            name == MANIFEST or (path.is_file() and written.get(name) == hashlib.sha256(path.read_bytes()).hexdigest()))
        if not ours:
            raise BenchError(f"{path}: exists and was not written by `bench data prepare` (or was changed since); "
                             "refusing to replace it: choose another --out or remove it yourself")


def _resolve_kind(layout: DatasetLayout | None, kind: str | None, inputs: Mapping[str, SplitInput]) -> DatasetKind:
    if kind is not None:
        if kind not in KINDS:
            raise BenchError(f"unknown dataset kind {kind!r}; valid: {', '.join(KINDS)}")
        return KINDS[kind]
    if layout is not None:
        return layout.kind
    return _guess_kind(i.annotations for i in inputs.values())


def _multi_source(results, kind, config: MultiSourceConfig, files: dict[str, bytes],
                  used: dict[str, list[str]], inputs: Mapping[str, SplitInput]) -> dict[str, Any]:
    """Add ``msource-{split}-k{k}.csv`` to ``files`` and their images to ``used`` (by image folder)."""
    min_inst = config.min_instances or MIN_INSTANCES[kind.name]
    k_max = max(config.k)
    if min(config.k) < 1 or k_max + 1 > min_inst:
        raise BenchError(f"multi-source k must be in 1..{min_inst - 1} (min_instances={min_inst} leaves "
                         f"k+1 images per identity), got {list(config.k)}")
    groups = {s: eligible_groups(group_by_identity(r.filtered.kept, kind), min_inst) for s, r in results.items()}
    splits: dict[str, dict[str, list[str]]] = {}
    if "train" in groups:
        splits["train"], splits["validation"] = hold_out(groups["train"], config.val_fraction, config.seed)
    if "test" in groups:
        splits["test"] = groups["test"]
    _check_disjoint(splits, {s: inputs["test" if s == "test" else "train"].annotations for s in splits})
    summary: dict[str, Any] = {"config": {**asdict(config), "k": list(config.k), "min_instances": min_inst}, "splits": {}}
    for split, group in splits.items():
        if not group:
            raise DataError(inputs["test" if split == "test" else "train"].annotations, f"multi-source {split} split is empty: no identity with {min_inst} usable images left for it")
        tuples = make_tuples(group, k_max, config.seed)
        if split == "test" and config.max_test is not None:
            tuples = [tuples[i] for i in sample_rows(len(tuples), config.max_test, config.seed)]
        for k in config.k:
            files[f"msource-{split}-k{k}.csv"] = format_tuples(tuples, k).encode()
        folder = "test" if split == "test" else "train"
        used[folder] = list(dict.fromkeys(used[folder] + [n for to, sources in tuples for n in (to, *sources)]))
        summary["splits"][split] = {"identities": len(group), "images": sum(map(len, group.values())),
                                    "tuples": len(tuples), "identity_list": list(group)}
    return summary


def _manifest(kind, size, inputs, results, files, tuples_summary, images_for_test, seed, images_checked) -> dict[str, Any]:
    input_files = {str(p): sha256_file(p) for i in inputs.values() for p in (i.annotations, i.official_pairs) if p is not None}
    splits = {}
    for split, r in results.items():
        splits[split] = {
            "annotations": str(inputs[split].annotations),
            "pairs_source": r.source,
            "images": len(r.annotations),
            "kept": len(r.filtered.kept),
            "dropped": {reason: len(names) for reason, names in r.filtered.dropped.items()},
            "candidate_pairs": r.candidates,
            "pairs": len(r.pairs),
            "identities": len(r.identities),  # in the pairs; identities_kept counts all kept images
            "identities_kept": len({kind.identity(n) for n in r.filtered.kept}),
            "identity_list": r.identities,
        }
    return {
        "kind": kind.name,
        "image_size": list(size),
        "rule": PAIR_RULE,
        "seed": seed,
        "images_for_test": images_for_test,
        "identity_rule": f"bench.data.layout.{'market' if kind.name == 'market' else 'fashion'}_identity",
        "images_checked": images_checked,
        "splits": splits,
        "multi_source": tuples_summary,
        "inputs": input_files,
        "outputs": {name: hashlib.sha256(data).hexdigest() for name, data in files.items()},
        "provenance": provenance(seed=seed, protocol="pose-gan pairs"),
    }


def parse_image_size(text: str) -> tuple[int, int]:
    """``"256x176"`` -> ``(256, 176)`` (height x width)."""
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise BenchError(f"image size must look like HxW (e.g. 256x256), got {text!r}") from None
    if h <= 0 or w <= 0:
        raise BenchError(f"image size must be positive, got {text!r}")
    return h, w
