"""Plan, render and write a whole synthetic dataset in the real on-disk layout.

Every random choice comes from ``numpy.random.default_rng`` keyed by
(seed, stream, index...), so an identity or an image depends only on its own
key: the same seed gives byte-identical files, and changing the number of
identities does not reshuffle the others.
"""
from __future__ import annotations

import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from bench.data.annotations import write_annotations
from bench.data.keypoints import INDEX, MISSING, NAMES, REQUIRED_FOR_PAIRS
from bench.data.layout import LAYOUTS
from bench.data.synth import naming
from bench.data.synth.appearance import CATEGORIES, Appearance, sample_appearance
from bench.data.synth.kinematics import sample_pose
from bench.data.synth.person import Placement, annotate, build_person
from bench.data.synth.render import Canvas, Paint, Part
from bench.data.synth.scene import fashion_background, finish, floor_shadow, jpeg_bytes, market_background, market_scene
from bench.errors import BenchError
from bench.io import atomic_path, atomic_write_json

INFO_FILE = "synth.json"
GENERATOR_VERSION = 1
# Stream ids for default_rng keys.
_NAMES, _SCENES, _TRAIN, _TEST, _JUNK, _DISTRACTOR, _QUERY = range(7)


@dataclass(frozen=True)
class SynthSpec:
    name: str
    kind: str  # a key of bench.data.layout.LAYOUTS
    identities_train: int
    identities_test: int
    images_per_identity: tuple[int, int]  # inclusive range, drawn per identity
    junk_per_test_identity: float = 0.0  # Market `-1_*` images in test
    distractors_per_test_identity: float = 0.0  # Market `0000_*` images in test
    # The first ``multi_source_identities`` identities of each split get exactly
    # ``multi_source_images`` images, so that n-source tuples (n + 1 images of one person,
    # e.g. Horiuchi et al.'s 12 training sources need 13) exist without making every
    # identity, and with it the single-source default, larger. 0: none.
    multi_source_identities: int = 0
    multi_source_images: int = 0


SPECS: dict[str, SynthSpec] = {
    "synth-market": SynthSpec("synth-market", "market", 60, 12, (4, 7), 0.75, 0.6),
    "synth-fashion": SynthSpec("synth-fashion", "deepfashion", 30, 8, (3, 6)),
    # pose-gan's layout: 256x256 frame, `fasion...` names without the category's underscore
    # (for the `posegan` protocols; bench/metrics/geometry.py).
    "synth-fashion-posegan": SynthSpec("synth-fashion-posegan", "deepfashion-posegan", 30, 8, (3, 6)),
}


@dataclass(frozen=True)
class Shot:
    """One image to render: where it goes, who is in it, and the key of its random stream."""

    split: str
    name: str
    role: str  # "person" | "junk" | "distractor"
    appearance: Appearance
    key: tuple[int, ...]
    camera: int = 0  # Market camera (1-6)
    view: str = ""  # DeepFashion view word


# ---------------------------------------------------------------------------
# Planning: names and identities.

def _images(spec: SynthSpec, rng: np.random.Generator, index: int) -> int:
    lo, hi = spec.images_per_identity
    drawn = int(rng.integers(lo, hi + 1))  # drawn always: the other identities' streams stay as they were
    return spec.multi_source_images if index < spec.multi_source_identities else drawn


def _unique_market_name(used: set[str], person: int, camera: int, sequence: int, frame: int, box: int) -> str:
    name = naming.market_name(person, camera, sequence, frame, box)
    while name in used:  # a clash needs the same camera, sequence, frame and box: step the frame
        frame = (frame + 1) % 10**6
        name = naming.market_name(person, camera, sequence, frame, box)
    used.add(name)
    return name


def _market_name(rng: np.random.Generator, used: set[str], person: int, camera: int) -> str:
    return _unique_market_name(used, person, camera, int(rng.integers(1, 7)), int(rng.integers(0, 10**6)), int(rng.integers(1, 5)))


def plan_market(spec: SynthSpec, seed: int) -> list[Shot]:
    n_train, n_test = spec.identities_train, spec.identities_test
    pids = np.random.default_rng([seed, _NAMES]).choice(np.arange(1, 1502), n_train + n_test, replace=False)
    shots, used, seen = [], set(), []
    for split, stream, ids in (("train", _TRAIN, pids[:n_train]), ("test", _TEST, pids[n_train:])):
        for i, pid in enumerate(sorted(int(p) for p in ids)):
            rng = np.random.default_rng([seed, stream, i])
            app = sample_appearance(rng, "market")
            cameras = rng.choice(np.arange(1, 7), int(rng.integers(2, 5)), replace=False)  # seen by >= 2 cameras
            n_images = _images(spec, rng, i)
            for j in range(n_images):
                camera = int(cameras[j % len(cameras)])
                shots.append(Shot(split, _market_name(rng, used, pid, camera), "person", app, (seed, stream, i, 1 + j), camera))
            if split == "test":
                seen.append((i, pid, app, [int(c) for c in cameras[:n_images]]))
    for role, stream, person, rate in (("junk", _JUNK, naming.MARKET_JUNK, spec.junk_per_test_identity),
                                       ("distractor", _DISTRACTOR, naming.MARKET_DISTRACTOR, spec.distractors_per_test_identity)):
        for i in range(int(np.ceil(rate * n_test))):
            rng = np.random.default_rng([seed, stream, i])
            camera = int(rng.integers(1, 7))
            shots.append(Shot("test", _market_name(rng, used, person, camera), role, sample_appearance(rng, "market"),
                              (seed, stream, i, 1), camera))
    # Market's query/: one image per test identity and camera it is seen by (planned last,
    # from its own stream, so the train and test images do not change).
    for i, pid, app, cameras in seen:
        rng = np.random.default_rng([seed, _QUERY, i])
        for j, camera in enumerate(sorted(cameras)):
            shots.append(Shot("query", _market_name(rng, used, pid, camera), "person", app, (seed, _QUERY, i, 1 + j), camera))
    return shots


# DeepFashion pose numbers and their view words (6 is the flat product shot, never a person).
_FASHION_POSES = ((1, "front"), (2, "side"), (3, "back"), (4, "full"), (5, "additional"), (7, "additional"))


def plan_fashion(spec: SynthSpec, seed: int) -> list[Shot]:
    n_train, n_test = spec.identities_train, spec.identities_test
    items = np.random.default_rng([seed, _NAMES]).choice(np.arange(1, 80000), n_train + n_test, replace=False)
    shots = []
    for split, stream, ids in (("train", _TRAIN, items[:n_train]), ("test", _TEST, items[n_train:])):
        for i, item in enumerate(int(x) for x in ids):
            rng = np.random.default_rng([seed, stream, i])
            gender = "WOMEN" if rng.random() < 0.6 else "MEN"
            category = CATEGORIES[gender][int(rng.integers(len(CATEGORIES[gender])))]
            app = sample_appearance(rng, "fashion", gender=gender, category=category)
            outfit = int(rng.integers(1, 5))
            k = min(_images(spec, rng, i), len(_FASHION_POSES))
            others = rng.choice(np.arange(1, len(_FASHION_POSES)), k - 1, replace=False)
            for j in sorted([0, *(int(o) for o in others)]):
                number, view = _FASHION_POSES[j]
                name = naming.fashion_name(gender, category, item, outfit, number, view, posegan=spec.kind == "deepfashion-posegan")
                shots.append(Shot(split, name, "person", app, (seed, stream, i, 1 + j), view=view))
    return shots


# ---------------------------------------------------------------------------
# Rendering one image.

_MARKET_DETECTOR_MISS = {"r_wrist": 0.08, "l_wrist": 0.08, "r_elbow": 0.03, "l_elbow": 0.03, "r_knee": 0.03,
                         "l_knee": 0.03, "r_ankle": 0.04, "l_ankle": 0.04, "r_ear": 0.15, "l_ear": 0.15}


def _market_yaw(rng: np.random.Generator) -> float:
    view = rng.choice(3, p=[0.36, 0.34, 0.30])
    if view == 0:
        return float(rng.normal(0, 18))
    if view == 1:
        return float(180 + rng.normal(0, 18))
    return float(rng.choice([-1, 1]) * rng.uniform(70, 110))


def _occluder(rng: np.random.Generator, at: np.ndarray, scale: float) -> Part:
    """A foreground object (pole, bag, another person's arm) hiding the point ``at`` (y, x)."""
    half_w, half_h = rng.uniform(0.04, 0.08) * scale, rng.uniform(0.08, 0.25) * scale
    cy, cx = at[0] + rng.uniform(-0.5, 0.5) * half_h, at[1] + rng.uniform(-0.5, 0.5) * half_w
    color = tuple(float(c) for c in rng.uniform(0.05, 0.6) * rng.uniform(0.8, 1.2, 3))
    return Part("occluder", (cy - half_h, cx), (cy + half_h, cx), (half_w,), -1e6, -1e6, Paint(color),
                cap=False, corner=half_w * 0.6, depth_ratio=0.0)


def render_market(shot: Shot, scenes: dict[int, np.ndarray], size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, dict]:
    """(uint8 image, (18, 2) keypoints, debug info with the background and canvas)."""
    h, w = size
    rng = np.random.default_rng(list(shot.key))
    pose = sample_pose(rng, _market_yaw(rng), {"walking": 0.6, "standing": 0.3, "arms": 0.1})
    scale = h * rng.uniform(0.86, 0.98)
    if rng.random() < 0.08:  # detection box cuts the feet off
        scale = h * rng.uniform(1.05, 1.2)
    top = rng.uniform(0.5, max(h - scale, 1.0)) if scale < h else rng.uniform(-3.0, 0.5)
    place = Placement(scale, top, w / 2 + rng.uniform(-4, 4))
    if shot.role == "junk":  # bad detection: an enlarged fragment of a person, or nothing at all
        scale = h * rng.uniform(1.6, 2.6)
        place = Placement(scale, rng.uniform(-0.7, 0.0) * scale, rng.uniform(0, w), z_offset=0.0)
        if rng.random() < 0.35:
            place = replace(place, center_x=-10 * w)
    elif shot.role == "distractor":
        scale = h * rng.uniform(0.5, 0.85)
        place = Placement(scale, rng.uniform(-0.4 * scale, h - scale), rng.uniform(0.25, 0.75) * w)
    background = market_background(scenes[shot.camera], rng, h, w)
    feet_y = place.top + place.scale
    background = floor_shadow(background, feet_y, place.center_x, 0.13 * place.scale, 0.025 * place.scale, 0.35)
    lx = float(rng.uniform(-0.45, 0.45))
    canvas = Canvas(h, w, supersample=2, light=(lx, float(np.sqrt(1 - lx * lx))))
    if rng.random() < 0.3:  # a passer-by behind
        other = build_person(sample_appearance(rng, "market"), sample_pose(rng, _market_yaw(rng), {"walking": 1.0}),
                             Placement(h * rng.uniform(0.6, 0.9), rng.uniform(-5, 10), float(rng.choice([-1, 1]) * rng.uniform(22, 34) + w / 2),
                                       z_offset=1e5), prefix="bg:")
        for part in other.parts:
            canvas.draw(part)
    person = build_person(shot.appearance, pose, place)
    for part in person.parts:
        canvas.draw(part)
    if shot.role == "person" and rng.random() < 0.07:  # occlusion of a shoulder or hip: fails the pair rule
        joint = int(rng.choice(REQUIRED_FOR_PAIRS))
        canvas.draw(_occluder(rng, person.keypoints[joint, :2], place.scale))
    image = finish(canvas.composite(background), rng, blur=float(rng.uniform(0.45, 0.85)), noise=0.012)
    keypoints = annotate(person, canvas, size)
    for name, p in _MARKET_DETECTOR_MISS.items():
        if rng.random() < p:
            keypoints[INDEX[name]] = MISSING
    return image, keypoints, {"background": background, "canvas": canvas, "person": person}


def _fashion_yaw(rng: np.random.Generator, view: str) -> float:
    if view == "additional":
        view = str(rng.choice(["front", "side", "back", "three-quarter"]))
    if view in ("front", "full"):
        return float(rng.normal(0, 10))
    if view == "back":
        return float(180 + rng.normal(0, 10))
    if view == "side":
        return float(rng.choice([-1, 1]) * rng.uniform(70, 100))
    return float(rng.choice([-1, 1]) * rng.uniform(25, 55))


_CLOSE_UP = {"front": 0.4, "additional": 0.35, "side": 0.15, "back": 0.15, "full": 0.0}


def render_fashion(shot: Shot, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, dict]:
    h, w = size
    rng = np.random.default_rng(list(shot.key))
    pose = sample_pose(rng, _fashion_yaw(rng, shot.view), {"model": 0.55, "standing": 0.3, "walking": 0.1, "arms": 0.05})
    close_up = rng.random() < _CLOSE_UP[shot.view]
    if close_up:  # upper body: hips often and legs always below the frame
        scale = h * rng.uniform(1.45, 2.0)
        top = rng.uniform(2, 12)
    else:
        scale = h * rng.uniform(0.86, 0.95)
        top = rng.uniform(3, max(h - scale - 2, 4))
    place = Placement(scale, top, w / 2 + rng.uniform(-6, 6))
    background = fashion_background(rng, h, w)
    if not close_up:
        background = floor_shadow(background, top + scale * 0.995, place.center_x, 0.16 * scale, 0.018 * scale, 0.18)
    lx = float(rng.uniform(-0.3, 0.3))
    canvas = Canvas(h, w, supersample=2, light=(lx, float(np.sqrt(1 - lx * lx))))
    person = build_person(shot.appearance, pose, place)
    for part in person.parts:
        canvas.draw(part)
    image = finish(canvas.composite(background), rng, blur=0.35, noise=0.006)
    return image, annotate(person, canvas, size), {"background": background, "canvas": canvas, "person": person}


# ---------------------------------------------------------------------------
# The dataset.

def resolve_spec(name: str, identities_train: int | None = None, identities_test: int | None = None,
                 images_per_identity: int | None = None, multi_source_identities: int = 0,
                 multi_source_images: int = 0) -> SynthSpec:
    if name not in SPECS:
        raise BenchError(f"unknown synthetic dataset {name!r}; choose one of: {', '.join(sorted(SPECS))}")
    spec = SPECS[name]
    for label, value, least in (("identities_train", identities_train, 1), ("identities_test", identities_test, 1),
                                ("images_per_identity", images_per_identity, 2)):
        if value is not None and value < least:
            raise BenchError(f"{label} must be at least {least}, got {value}")
    if images_per_identity is not None and spec.kind != "market" and images_per_identity > len(_FASHION_POSES):
        raise BenchError(f"images_per_identity must be at most {len(_FASHION_POSES)} for {name} (one per view), got {images_per_identity}")
    if multi_source_identities < 0:
        raise BenchError(f"multi_source_identities must be >= 0, got {multi_source_identities}")
    if multi_source_identities and multi_source_images < 2:
        raise BenchError(f"multi_source_identities={multi_source_identities} needs multi_source_images >= 2 "
                         f"(n sources take n + 1 images), got {multi_source_images}")
    if spec.kind != "market" and multi_source_images > len(_FASHION_POSES):
        raise BenchError(f"multi_source_images must be at most {len(_FASHION_POSES)} for {name} (one per view), "
                         f"got {multi_source_images}")
    return replace(
        spec,
        multi_source_identities=multi_source_identities,
        multi_source_images=multi_source_images if multi_source_identities else 0,
        identities_train=identities_train or spec.identities_train,
        identities_test=identities_test or spec.identities_test,
        images_per_identity=(images_per_identity, images_per_identity) if images_per_identity else spec.images_per_identity,
    )


def _check_out(out: Path) -> None:
    """Refuse to replace a folder that is not an earlier synthetic dataset."""
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / INFO_FILE).exists())):
        raise BenchError(f"{out}: exists and is not a synthetic dataset written by `bench data synth`; refusing to replace it")


def synthesize(name: str, out: str | Path, seed: int = 0, identities_train: int | None = None,
               identities_test: int | None = None, images_per_identity: int | None = None,
               progress: bool = True, multi_source_identities: int = 0, multi_source_images: int = 0) -> dict:
    """Write the synthetic dataset ``name`` to ``out`` atomically; return a summary (counts, bytes, seconds)."""
    from tqdm import tqdm

    spec = resolve_spec(name, identities_train, identities_test, images_per_identity,
                        multi_source_identities, multi_source_images)
    out = Path(out)
    _check_out(out)
    kind = LAYOUTS[spec.kind]
    start = time.perf_counter()
    if spec.kind == "market":
        shots = plan_market(spec, seed)
        scenes = {c: market_scene(np.random.default_rng([seed, _SCENES, c]), kind.image_size[0], 4 * kind.image_size[1])
                  for c in range(1, 7)}
    else:
        shots = plan_fashion(spec, seed)
    annotations: dict[str, dict[str, np.ndarray]] = {"train": {}, "test": {}}
    total_bytes = 0
    with atomic_path(out, kind="a synthetic dataset") as tmp:
        for split in sorted({shot.split for shot in shots}):
            (tmp / split).mkdir(parents=True)
        for shot in tqdm(shots, desc=name, unit="img", file=sys.stderr, disable=not progress):
            if spec.kind == "market":
                image, keypoints, _ = render_market(shot, scenes, kind.image_size)
                data = jpeg_bytes(image, quality=90)
            else:
                image, keypoints, _ = render_fashion(shot, kind.image_size)
                data = jpeg_bytes(image, quality=95)
            (tmp / shot.split / shot.name).write_bytes(data)
            total_bytes += len(data)
            if shot.split in annotations:  # query/ has no annotation file, as in the real release
                annotations[shot.split][shot.name] = keypoints
        for split, rows in annotations.items():
            write_annotations(tmp / f"{kind.annotation_prefix}-{split}.csv", dict(sorted(rows.items())))
        summary = {
            "generator": "bench.data.synth", "version": GENERATOR_VERSION, "seed": seed,
            "spec": {**asdict(spec), "images_per_identity": list(spec.images_per_identity)},
            "image_size": list(kind.image_size),
            "images": {split: sum(s.split == split for s in shots) for split in sorted({s.split for s in shots})},
            "roles": {role: sum(s.role == role for s in shots) for role in ("person", "junk", "distractor")},
            "keypoints": list(NAMES),
        }
        # No timestamp or commit here: the folder must be byte-identical for equal seeds.
        atomic_write_json(tmp / INFO_FILE, summary)
    return {**summary, "bytes": total_bytes, "seconds": round(time.perf_counter() - start, 2)}
