"""Synthetic datasets: determinism, real layout and names, and keypoints that match the pictures."""
from __future__ import annotations

import hashlib
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bench.data.annotations import read_annotations
from bench.data.keypoints import INDEX, MISSING, NAMES, REQUIRED_FOR_PAIRS
from bench.data.layout import LAYOUTS, DatasetLayout, fashion_identity, market_identity
from bench.data.synth import SPECS, synthesize
from bench.data.synth import dataset as D
from bench.data.synth.appearance import sample_appearance
from bench.data.synth.kinematics import LIMITS, Pose, sample_pose
from bench.data.synth.naming import fashion_name, market_name
from bench.data.synth.person import Placement, annotate, build_person
from bench.data.synth.render import Canvas
from bench.errors import BenchError

MARKET_NAME = re.compile(r"^(\d{4}|-1)_c[1-6]s[1-6]_\d{6}_\d{2}\.jpg$")
FASHION_NAME = re.compile(r"^fashion(MEN|WOMEN)[A-Za-z_]+id\d{10}_\d(front|side|back|full|additional)\.jpg$")
POSEGAN_NAME = re.compile(r"^fasion(MEN|WOMEN)[A-Za-z]+id\d{10}_\d(front|side|back|full|additional)\.jpg$")
TINY = dict(identities_train=3, identities_test=2, images_per_identity=2)


def _digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("synth")
    for name in SPECS:
        synthesize(name, root / name, seed=7, progress=False, **TINY)
    return {name: root / name for name in SPECS}


@pytest.mark.parametrize("name", sorted(SPECS))
def test_same_seed_gives_identical_bytes(tiny, tmp_path, name):
    synthesize(name, tmp_path / "again", seed=7, progress=False, **TINY)
    assert _digest(tmp_path / "again") == _digest(tiny[name])
    synthesize(name, tmp_path / "other", seed=8, progress=False, **TINY)
    assert _digest(tmp_path / "other") != _digest(tiny[name])


@pytest.mark.parametrize("name", sorted(SPECS))
def test_real_layout_and_valid_annotations(tiny, name):
    layout = DatasetLayout.open(tiny[name])
    assert layout.kind == LAYOUTS[SPECS[name].kind]
    h, w = layout.kind.image_size
    for split in ("train", "test"):
        ann = read_annotations(layout.annotations(split), image_size=(h, w))
        files = sorted(p.name for p in layout.images(split).glob("*.jpg"))
        assert files == sorted(ann)
        for file in files[:3]:
            with Image.open(layout.images(split) / file) as im:
                assert im.format == "JPEG" and im.size == (w, h) and im.mode == "RGB"
        kp = np.stack(list(ann.values()))
        assert kp.dtype.kind == "i" and ((kp >= 0) | (kp == MISSING)).all()


def test_market_names_identities_and_junk(tiny):
    layout = DatasetLayout.open(tiny["synth-market"])
    ids = {}
    for split in ("train", "test"):
        names = read_annotations(layout.annotations(split))
        assert all(MARKET_NAME.match(n) for n in names), sorted(names)
        people = [n for n in names if not n.startswith(("-1_", "0000_"))]
        ids[split] = {market_identity(n) for n in people}
        assert len(ids[split]) == TINY[f"identities_{split}"]
        assert all(sum(market_identity(n) == i for n in people) == 2 for i in ids[split])
        if split == "test":
            assert any(n.startswith("-1_") for n in names) and any(n.startswith("0000_") for n in names)
        # every identity is seen by at least two cameras, as in Market-1501
        for i in ids[split]:
            assert len({n.split("_")[1][:2] for n in people if market_identity(n) == i}) >= 2
    assert not ids["train"] & ids["test"]


def test_fashion_names_identities_and_views(tiny):
    layout = DatasetLayout.open(tiny["synth-fashion"])
    ids = {}
    for split in ("train", "test"):
        names = read_annotations(layout.annotations(split))
        assert all(FASHION_NAME.match(n) for n in names), sorted(names)
        ids[split] = {fashion_identity(n) for n in names}
        assert len(ids[split]) == TINY[f"identities_{split}"]
        assert all(f"{i}_1front.jpg" in names for i in ids[split])  # every outfit has its front view
    assert not ids["train"] & ids["test"]
    # a category with an underscore survives the identity rule
    name = fashion_name("MEN", "Shirts_Polos", 1802, 2, 4, "full")
    assert name == "fashionMENShirts_Polosid0000180202_4full.jpg"
    assert fashion_identity(name) == "fashionMENShirts_Polosid0000180202"


def test_posegan_fashion_layout_names_and_frame(tiny):
    """pose-gan's layout: fasion-annotation-*.csv, 256x256 frame, names as in ../shared's old-split file."""
    root = tiny["synth-fashion-posegan"]
    layout = DatasetLayout.open(root)
    assert layout.kind.image_size == (256, 256) and layout.annotations("test").name == "fasion-annotation-test.csv"
    names = read_annotations(layout.annotations("test"), image_size=(256, 256))
    assert all(POSEGAN_NAME.match(n) for n in names), sorted(names)
    # pose-gan's own identity rule, name.split('_')[0], agrees with ours on these names
    assert all(fashion_identity(n) == n.split("_")[0] for n in names)
    assert fashion_name("WOMEN", "Tees_Tanks", 316, 6, 2, "side", posegan=True) == "fasionWOMENTeesTanksid0000031606_2side.jpg"


def test_name_schemes():
    assert market_name(2, 1, 1, 451, 3) == "0002_c1s1_000451_03.jpg"
    assert market_name(-1, 5, 3, 86412, 11) == "-1_c5s3_086412_11.jpg"
    assert market_name(0, 2, 6, 1, 1).startswith("0000_")
    with pytest.raises(ValueError):
        market_name(2, 7, 1, 1, 1)


def test_default_sizes_and_test_pairs():
    """Default plans: about 60x5.5 / 12x5.5 Market images plus junk; disjoint, unique names."""
    shots = D.plan_market(SPECS["synth-market"], seed=0)
    names = [s.name for s in shots]
    assert len(names) == len(set(names))
    train = [s for s in shots if s.split == "train"]
    test_people = [s for s in shots if s.split == "test" and s.role == "person"]
    assert 240 <= len(train) <= 420 and 48 <= len(test_people) <= 84
    assert {s.role for s in shots if s.split == "test"} == {"person", "junk", "distractor"}
    fashion = D.plan_fashion(SPECS["synth-fashion"], seed=0)
    assert len({fashion_identity(s.name) for s in fashion if s.split == "train"}) == 30


def _person_pixels_differ(image: np.ndarray, background: np.ndarray, y: int, x: int) -> float:
    win = (slice(max(y - 1, 0), y + 2), slice(max(x - 1, 0), x + 2))
    return float(np.abs(image[win].astype(float) - background[win] * 255.0).max(axis=-1).mean())


@pytest.mark.parametrize("kind", ["market", "deepfashion"])
def test_keypoints_lie_on_the_rendered_person(kind):
    spec = replace(SPECS["synth-market" if kind == "market" else "synth-fashion"], identities_train=6, identities_test=1)
    size = (128, 64) if kind == "market" else (256, 176)
    if kind == "market":
        shots = [s for s in D.plan_market(spec, seed=1) if s.role == "person"][:24]
        scenes = {c: D.market_scene(np.random.default_rng([1, 99, c]), size[0], 4 * size[1]) for c in range(1, 7)}
        rendered = [D.render_market(s, scenes, size) for s in shots]
    else:
        rendered = [D.render_fashion(s, size) for s in D.plan_fashion(spec, seed=1)[:16]]
    differ, present = 0, 0
    for image, kp, debug in rendered:
        for i in np.flatnonzero(kp[:, 0] != MISSING):
            y, x = kp[i]
            label = debug["canvas"].label_at(float(y), float(x))
            assert label is not None and not label.startswith("bg:") and label != "occluder", (NAMES[i], label)
            present += 1
            differ += _person_pixels_differ(image, debug["background"], int(y), int(x)) > 10
    assert present > 10 * len(rendered)
    assert differ / present > 0.95


def _render(pose: Pose, size=(256, 176), scale=0.9, top=10.0, occlude: str | None = None) -> np.ndarray:
    app = sample_appearance(np.random.default_rng(0), "fashion", gender="MEN", category="Tees_Tanks")
    app = replace(app, backpack=None)
    person = build_person(app, pose, Placement(size[0] * scale, top, size[1] / 2))
    canvas = Canvas(*size)
    for part in person.parts:
        canvas.draw(part)
    if occlude is not None:
        y, x = person.keypoints[INDEX[occlude], :2]
        canvas.draw(D._occluder(np.random.default_rng(0), np.array([y, x]), size[0] * scale))
    return annotate(person, canvas, size)


def _missing(kp: np.ndarray) -> set[str]:
    return {NAMES[i] for i in np.flatnonzero(kp[:, 0] == MISSING)}


def test_front_view_has_every_keypoint_and_right_on_the_image_left():
    kp = _render(Pose(yaw=0.0))
    assert _missing(kp) == set()
    assert kp[INDEX["r_shoulder"], 1] < kp[INDEX["l_shoulder"], 1]
    assert kp[INDEX["r_eye"], 1] < kp[INDEX["nose"], 1] < kp[INDEX["l_eye"], 1]
    assert kp[INDEX["nose"], 0] < kp[INDEX["neck"], 0] < kp[INDEX["r_hip"], 0] < kp[INDEX["r_knee"], 0] < kp[INDEX["r_ankle"], 0]


def test_back_view_hides_the_face_and_mirrors_left_and_right():
    kp = _render(Pose(yaw=180.0))
    assert _missing(kp) == {"nose", "r_eye", "l_eye"}
    assert kp[INDEX["r_shoulder"], 1] > kp[INDEX["l_shoulder"], 1]


@pytest.mark.parametrize("yaw, far", [(90.0, "l"), (-90.0, "r")])
def test_side_view_hides_the_far_eye_and_ear(yaw, far):
    kp = _render(Pose(yaw=yaw, shoulder_abd=(5.0, 5.0)))
    missing = _missing(kp)
    near = "r" if far == "l" else "l"
    assert {f"{far}_eye", f"{far}_ear"} <= missing
    assert not {"nose", f"{near}_eye", f"{near}_ear", "neck", "r_shoulder", "l_shoulder", "r_hip", "l_hip"} & missing


def test_occluded_hip_is_missing_and_fails_the_pair_rule():
    kp = _render(Pose(yaw=0.0), occlude="r_hip")
    assert "r_hip" in _missing(kp)
    assert (kp[list(REQUIRED_FOR_PAIRS), 0] == MISSING).any()


def test_close_up_loses_the_legs():
    kp = _render(Pose(yaw=0.0), scale=2.0, top=5.0)
    assert {"r_knee", "l_knee", "r_ankle", "l_ankle"} <= _missing(kp)
    assert not {"nose", "neck", "r_shoulder", "l_shoulder"} & _missing(kp)


def test_some_market_images_fail_the_pair_rule():
    """Occluders and side views drop a shoulder or hip in a minority of images, as in Market-1501."""
    spec = SPECS["synth-market"]
    shots = [s for s in D.plan_market(spec, seed=0) if s.role == "person"][:80]
    scenes = {c: D.market_scene(np.random.default_rng([0, 99, c]), 128, 256) for c in range(1, 7)}
    fails = sum((D.render_market(s, scenes, (128, 64))[1][list(REQUIRED_FOR_PAIRS), 0] == MISSING).any() for s in shots)
    assert 1 <= fails <= 20


def test_sampled_poses_respect_joint_limits():
    rng = np.random.default_rng(0)
    for _ in range(200):
        pose = sample_pose(rng, float(rng.uniform(-400, 400)), {"walking": 1, "standing": 1, "arms": 1, "model": 1})
        for field, (lo, hi) in LIMITS.items():
            for value in np.atleast_1d(getattr(pose, field)):
                assert lo <= value <= hi, (field, value)


def test_bad_requests_are_refused(tmp_path):
    with pytest.raises(BenchError, match="unknown synthetic dataset"):
        synthesize("synth-nope", tmp_path / "x", progress=False)
    with pytest.raises(BenchError, match="images_per_identity"):
        synthesize("synth-market", tmp_path / "x", images_per_identity=1, progress=False)
    (tmp_path / "precious").mkdir()
    (tmp_path / "precious" / "notes.txt").write_text("keep me")
    with pytest.raises(BenchError, match="refusing to replace"):
        synthesize("synth-market", tmp_path / "precious", progress=False, **TINY)
    assert (tmp_path / "precious" / "notes.txt").read_text() == "keep me"


def test_cli_writes_a_dataset(tmp_path):
    from typer.testing import CliRunner

    from bench.cli import app

    result = CliRunner().invoke(app, ["data", "synth", "synth-fashion", "--out", str(tmp_path / "f"), "--seed", "1",
                                      "--identities-train", "1", "--identities-test", "1", "--images-per-identity", "2"])
    assert result.exit_code == 0, result.output
    assert "2 train + 2 test images" in result.output
    assert DatasetLayout.open(tmp_path / "f").kind.name == "deepfashion"


def test_multi_source_identities_get_their_images_and_leave_the_others_unchanged():
    """The first K identities of each split get exactly M images (n-source tuples need n + 1);
    every other identity draws the same shots as without the option (their streams are untouched)."""
    for name, m in (("synth-market", 13), ("synth-fashion", 4)):
        spec = D.resolve_spec(name)
        rich = D.resolve_spec(name, multi_source_identities=3, multi_source_images=m)
        plan = D.plan_market if spec.kind == "market" else D.plan_fashion
        identity = market_identity if spec.kind == "market" else fashion_identity
        base, more = plan(spec, 0), plan(rich, 0)

        def per_identity(shots, split):
            counts: dict[str, list[str]] = {}
            for s in shots:
                if s.split == split and s.role == "person":
                    counts.setdefault(identity(s.name), []).append(s.name)
            return list(counts.values())

        for split in ("train", "test"):
            before, after = per_identity(base, split), per_identity(more, split)
            assert [len(names) for names in after[:3]] == [m] * 3
            assert after[3:] == before[3:]


def test_multi_source_images_are_checked():
    with pytest.raises(BenchError, match="multi_source_images >= 2"):
        D.resolve_spec("synth-market", multi_source_identities=2)
    with pytest.raises(BenchError, match="at most 6"):
        D.resolve_spec("synth-fashion", multi_source_identities=2, multi_source_images=7)
