from __future__ import annotations

import hashlib
import json
from itertools import permutations
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from typer.testing import CliRunner

from bench.cli import app
from bench.data.annotations import ANNOTATION_HEADER, format_annotations, read_pairs
from bench.data.keypoints import INDEX, MISSING
from bench.data.splits import (
    MultiSourceConfig,
    _decode_image,
    candidate_pairs,
    filter_images,
    group_by_identity,
    hold_out,
    make_tuples,
    prepare,
    read_tuples,
    sample_rows,
    sample_test_pairs,
)
from bench.data.layout import KINDS
from bench.errors import BenchError, DataError

MARKET = KINDS["market"]


def pose(missing: tuple[str, ...] = ()) -> np.ndarray:
    kp = np.stack([np.arange(18) * 6 + 10, np.full(18, 30)], axis=1)  # inside 128x64
    for name in missing:
        kp[INDEX[name]] = MISSING
    return kp


def name(person: str, i: int) -> str:
    return f"{person}_c1s1_{i:06d}_01.jpg"


def write_ann(path: Path, names, missing=None) -> Path:
    missing = missing or {}
    path.write_text(format_annotations({n: pose(missing.get(n, ())) for n in names}))
    return path


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def ann_files(tmp_path):
    """Train: ids 0001 (3 kept), 0002 (2 kept, 1 without hip), junk; test: ids 0003 (4), 0004 (2)."""
    train = [name("0001", 1), name("0002", 1), name("0001", 2), "-1_c1s1_000001_01.jpg", name("0002", 2),
             name("0002", 3), name("0001", 3), name("0000", 1)]
    test = [name("0003", i) for i in range(4)] + [name("0004", 1), name("0004", 2)]
    return (write_ann(tmp_path / "market-annotation-train.csv", train, {name("0002", 3): ("l_hip",)}),
            write_ann(tmp_path / "market-annotation-test.csv", test))


# ---------------------------------------------------------------------- rule
def test_filter_and_pairs_follow_pose_gan_order(ann_files):
    from bench.data.annotations import read_annotations

    filtered = filter_images(read_annotations(ann_files[0]))
    assert filtered.dropped == {"distractor": ["-1_c1s1_000001_01.jpg", name("0000", 1)],
                                "missing_torso_keypoints": [name("0002", 3)]}
    groups = group_by_identity(filtered.kept, MARKET)
    assert list(groups) == ["0001", "0002"]  # order of first appearance
    a1, a2, a3 = (name("0001", i) for i in (1, 2, 3))
    b1, b2 = name("0002", 1), name("0002", 2)
    assert candidate_pairs(groups) == [(a1, a2), (a1, a3), (a2, a1), (a2, a3), (a3, a1), (a3, a2), (b1, b2), (b2, b1)]


@pytest.mark.parametrize("missing", ["r_shoulder", "l_shoulder", "r_hip", "l_hip"])
def test_each_torso_keypoint_is_required(missing):
    assert filter_images({"x_1.jpg": pose((missing,))}).kept == []
    assert filter_images({"x_1.jpg": pose(("nose", "r_ankle", "l_wrist"))}).kept == ["x_1.jpg"]


@pytest.mark.parametrize("n_rows,n", [(50, 20), (30, 30), (25, 12000)])
def test_sampling_equals_pandas_sample(n_rows, n):
    frame = pd.DataFrame({"from": [f"a{i}" for i in range(n_rows)], "to": [f"b{i}" for i in range(n_rows)]})
    expected = frame.sample(n=min(n, n_rows), replace=False, random_state=0)
    candidates = list(zip(frame["from"], frame["to"]))
    assert sample_test_pairs(candidates, n, 0) == list(zip(expected["from"], expected["to"]))
    assert sample_rows(n_rows, n, 1).tolist() != sample_rows(n_rows, n, 0).tolist()


# ------------------------------------------------------------------- prepare
def test_prepare_writes_pairs_and_manifest(ann_files, tmp_path):
    out = tmp_path / "out"
    manifest = prepare(annotations_train=ann_files[0], annotations_test=ann_files[1], out=out, images_for_test=5)
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "pairs-test.csv", "pairs-train.csv"]
    assert len(read_pairs(out / "pairs-train.csv")) == 3 * 2 + 2 * 1
    test = read_pairs(out / "pairs-test.csv")
    assert len(test) == 5 and len(set(test)) == 5 and all(a != b and a[:4] == b[:4] for a, b in test)
    on_disk = json.loads((out / "manifest.json").read_text())
    assert on_disk == manifest
    train = manifest["splits"]["train"]
    assert (train["images"], train["kept"], train["pairs"]) == (8, 5, 8)
    assert train["dropped"] == {"distractor": 2, "missing_torso_keypoints": 1}
    assert train["identity_list"] == ["0001", "0002"] and manifest["splits"]["test"]["candidate_pairs"] == 4 * 3 + 2
    for fname, digest in manifest["outputs"].items():
        assert hashlib.sha256((out / fname).read_bytes()).hexdigest() == digest
    assert manifest["inputs"][str(ann_files[0])] == hashlib.sha256(ann_files[0].read_bytes()).hexdigest()
    assert manifest["seed"] == 0 and "git_commit" in manifest["provenance"] and manifest["kind"] == "market"


def test_prepare_is_deterministic(ann_files, tmp_path):
    prepare(annotations_train=ann_files[0], annotations_test=ann_files[1], out=tmp_path / "a")
    prepare(annotations_train=ann_files[0], annotations_test=ann_files[1], out=tmp_path / "b")
    for split in ("train", "test"):
        assert (tmp_path / "a" / f"pairs-{split}.csv").read_bytes() == (tmp_path / "b" / f"pairs-{split}.csv").read_bytes()


def test_refuses_identity_overlap(ann_files, tmp_path):
    test = write_ann(tmp_path / "market-annotation-test.csv", [name("0001", 7), name("0001", 8)])
    out = tmp_path / "out"
    with pytest.raises(DataError, match="shares 1 identities") as err:
        prepare(annotations_train=ann_files[0], annotations_test=test, out=out)
    assert err.value.path == test and not out.exists()


@pytest.mark.parametrize(
    "row,message",
    [
        ("x_1.jpg: [1, 2]", "expected 3"),
        ("x_1.jpg: [1, 2: [3]", "not a JSON list"),
        ("x_1.jpg: " + str([1] * 17) + ": " + str([1] * 18), "list of 18"),
        ("x_1.jpg: " + str([130] * 18) + ": " + str([1] * 18), "outside the 128x64 image"),
    ],
)
def test_malformed_annotation_rows_fail_cleanly(ann_files, tmp_path, row, message):
    text = ann_files[1].read_text().splitlines()
    bad = tmp_path / "market-annotation-test.csv"
    bad.write_text("\n".join(text[:3] + [row] + text[3:]) + "\n")
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("old")
    with pytest.raises(DataError, match=message) as err:
        prepare(annotations_train=ann_files[0], annotations_test=bad, out=out)
    assert err.value.path == bad and err.value.line == 4
    assert snapshot(out) == {"keep.txt": b"old"}


def test_empty_identity_set_is_an_error(tmp_path):
    ann = write_ann(tmp_path / "market-annotation-train.csv", [name(f"{i:04d}", 1) for i in range(1, 5)])
    with pytest.raises(DataError, match="split would be empty") as err:
        prepare(annotations_train=ann, out=tmp_path / "out")
    assert err.value.path == ann and not (tmp_path / "out").exists()
    header_only = tmp_path / "market-annotation-test.csv"
    header_only.write_text(ANNOTATION_HEADER + "\n")
    with pytest.raises(DataError, match="lists no images"):
        prepare(annotations_test=header_only, out=tmp_path / "out")


def test_missing_inputs_and_unknown_kind(tmp_path):
    with pytest.raises(BenchError, match="nothing to prepare"):
        prepare(out=tmp_path / "out")
    with pytest.raises(DataError, match="does not exist"):
        prepare(annotations_train=tmp_path / "market-annotation-train.csv", out=tmp_path / "out")
    odd = write_ann(tmp_path / "people.csv", [name("0001", 1), name("0001", 2)])
    with pytest.raises(BenchError, match="pass kind"):
        prepare(annotations_train=odd, out=tmp_path / "out")
    assert len(prepare(annotations_train=odd, out=tmp_path / "out", kind="market")["splits"]["train"]["identity_list"]) == 1


# --------------------------------------------------------- dataset with images
def write_jpeg(path: Path, size=(128, 64)) -> None:
    rng = np.random.default_rng(len(path.name))
    Image.fromarray(rng.integers(0, 255, (*size, 3), dtype=np.uint8)).save(path, quality=90)


@pytest.fixture
def dataset(tmp_path, ann_files):
    root = tmp_path / "market"
    for split, ann in zip(("train", "test"), ann_files):
        (root / split).mkdir(parents=True)
        ann.rename(root / ann.name)
        for line in (root / ann.name).read_text().splitlines()[1:]:
            write_jpeg(root / split / line.split(":")[0])
    return root


def test_prepare_from_dataset_checks_images(dataset, tmp_path):
    manifest = prepare(dataset=dataset, out=tmp_path / "out")
    assert manifest["images_checked"] and manifest["splits"]["train"]["pairs"] == 8


@pytest.mark.parametrize("damage,message", [
    ("delete", "does not exist"),
    ("truncate", None),  # wording is the image loader's; the image must be named
    ("resize", None),
    ("garbage", None),
])
def test_bad_images_fail_cleanly(dataset, tmp_path, damage, message):
    image = dataset / "test" / name("0003", 2)
    if damage == "delete":
        image.unlink()
    elif damage == "truncate":
        image.write_bytes(image.read_bytes()[: len(image.read_bytes()) // 2])
    elif damage == "resize":
        write_jpeg(image, size=(64, 32))
    else:
        image.write_bytes(b"not a jpeg at all")
    out = tmp_path / "out"
    with pytest.raises(DataError, match=message) as err:
        prepare(dataset=dataset, out=out, images_for_test=100)
    assert name("0003", 2) in str(err.value) and not out.exists()
    assert prepare(dataset=dataset, out=out, check_image_files=False)["images_checked"] is False


@pytest.mark.parametrize("damage,message", [("truncate", "(?i)truncat"), ("resize", "is 64x32"), ("garbage", "cannot decode")])
def test_own_image_check(tmp_path, damage, message):
    path = tmp_path / "a.jpg"
    write_jpeg(path, size=(64, 32) if damage == "resize" else (128, 64))
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[:400])
    elif damage == "garbage":
        path.write_bytes(b"\x00" * 50)
    with pytest.raises(DataError, match=message):
        _decode_image(path, (128, 64))


def test_missing_image_folder(dataset, tmp_path):
    for image in (dataset / "train").iterdir():
        image.unlink()
    (dataset / "train").rmdir()
    with pytest.raises(DataError, match="image folder does not exist"):
        prepare(dataset=dataset, out=tmp_path / "out")


# ------------------------------------------------------------ official pairs
def test_official_pairs_found_in_dataset_are_used(dataset, tmp_path):
    official = [(name("0003", 1), name("0003", 0)), (name("0004", 2), name("0004", 1))]
    (dataset / "market-pairs-test.csv").write_text("from,to\n" + "".join(f"{a},{b}\n" for a, b in official))
    manifest = prepare(dataset=dataset, out=tmp_path / "out")
    assert read_pairs(tmp_path / "out" / "pairs-test.csv") == official
    assert manifest["splits"]["test"]["pairs_source"].endswith("market-pairs-test.csv")
    assert str(dataset / "market-pairs-test.csv") in manifest["inputs"]
    rebuilt = prepare(dataset=dataset, out=tmp_path / "out2", use_official=False)
    assert rebuilt["splits"]["test"]["pairs"] == 14


def test_official_pairs_are_validated(dataset, tmp_path):
    pairs = dataset / "my-pairs.csv"
    pairs.write_text(f"from,to\n{name('0003', 1)},{name('0003', 0)}\n\n{name('0003', 1)},{name('0003', 9)}\n")
    out = tmp_path / "out"
    with pytest.raises(DataError, match="not in the annotations") as err:
        prepare(dataset=dataset, out=out, official_pairs_test=pairs)
    assert (err.value.path, err.value.line) == (pairs, 4) and not out.exists()

    pairs.write_text(f"from,to\n{name('0003', 1)},{name('0003', 0)},extra\n")
    with pytest.raises(DataError, match="fields"):
        prepare(dataset=dataset, out=out, official_pairs_test=pairs)

    (dataset / "test" / name("0003", 0)).unlink()  # in the annotations, gone from disk
    pairs.write_text(f"from,to\n{name('0003', 1)},{name('0003', 0)}\n")
    with pytest.raises(DataError, match="does not exist"):
        prepare(dataset=dataset, out=out, official_pairs_test=pairs)
    assert not out.exists()


def test_official_pairs_leaking_identities_are_refused(dataset, tmp_path):
    train_pairs = dataset / "market-pairs-train.csv"
    train_pairs.write_text(f"from,to\n{name('0001', 1)},{name('0001', 2)}\n")
    test_ann = dataset / "market-annotation-test.csv"
    test_ann.write_text(test_ann.read_text() + format_annotations({name("0001", 9): pose()}).split("\n", 1)[1])
    write_jpeg(dataset / "test" / name("0001", 9))
    test_pairs = tmp_path / "leak.csv"
    test_pairs.write_text(f"from,to\n{name('0001', 9)},{name('0003', 1)}\n")
    with pytest.raises(DataError, match="shares 1 identities") as err:
        prepare(dataset=dataset, out=tmp_path / "out", official_pairs_test=test_pairs)
    assert err.value.path == test_pairs
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------- multi-source
def test_make_tuples_properties():
    groups = {"a": [f"a{i}" for i in range(5)], "b": [f"b{i}" for i in range(4)]}
    tuples = make_tuples(groups, k=3, seed=0)
    assert len(tuples) == 5 * 4 + 4 * 3 and len(set(tuples)) == len(tuples)
    assert [t[0][0] for t in tuples] == ["a"] * 20 + ["b"] * 12  # identities in file order
    for to, sources in tuples:
        assert len(sources) == 3 and len({to, *sources}) == 4 and {s[0] for s in sources} == {to[0]}
    assert make_tuples(groups, 3, seed=0) == tuples and make_tuples(groups, 3, seed=1) != tuples
    # with 4 images and k=3 every one of the 4! orderings is possible; 12 distinct ones are drawn
    assert {(t, *s) for t, s in tuples[20:]} <= set(permutations(groups["b"]))
    with pytest.raises(BenchError, match="fewer than k"):
        make_tuples(groups, k=4)


def test_make_tuples_is_uniform_over_targets():
    groups = {"a": [f"a{i}" for i in range(6)]}
    targets = [to for seed in range(40) for to, _ in make_tuples(groups, 2, seed)]
    counts = np.unique(targets, return_counts=True)[1]
    assert counts.sum() == 40 * 30 and np.all(np.abs(counts / counts.sum() - 1 / 6) < 0.03)


def test_hold_out_is_a_partition():
    groups = {str(i): [f"{i}_{j}" for j in range(3)] for i in range(20)}
    kept, held = hold_out(groups, 0.1, 0)
    assert len(held) == 2 and set(kept) | set(held) == set(groups) and not set(kept) & set(held)
    assert list(kept) == [i for i in groups if i in kept]


def msource_files(tmp_path: Path) -> tuple[Path, Path]:
    train = [name(f"{p:04d}", i) for p in range(1, 11) for i in range(4 + p % 3)]
    train.append(name("0011", 1))  # too few images: left out of the tuples
    test = [name(f"{p:04d}", i) for p in range(20, 23) for i in range(5)]
    return (write_ann(tmp_path / "market-annotation-train.csv", train),
            write_ann(tmp_path / "market-annotation-test.csv", test))


def test_prepare_multi_source(tmp_path):
    train, test = msource_files(tmp_path)
    out = tmp_path / "out"
    config = MultiSourceConfig(k=(1, 3), min_instances=4, val_fraction=0.2, seed=0)
    manifest = prepare(annotations_train=train, annotations_test=test, out=out, multi_source=config)
    summary = manifest["multi_source"]["splits"]
    assert (summary["train"]["identities"], summary["validation"]["identities"], summary["test"]["identities"]) == (8, 2, 3)
    assert summary["test"]["tuples"] == 3 * 5 * 4
    assert (out / "msource-train-k3.csv").read_text().splitlines()[0] == "to,from_1,from_2,from_3"
    ids = {}
    for split in ("train", "validation", "test"):
        k3 = read_tuples(out / f"msource-{split}-k3.csv")
        k1 = read_tuples(out / f"msource-{split}-k1.csv")
        assert len(k3) == summary[split]["tuples"] and k1 == read_tuples(out / f"msource-{split}-k3.csv", k=1)
        assert [s[:1] for _, s in k3] == [s for _, s in k1]  # nested sources, same targets
        ids[split] = {to[:4] for to, _ in k3}
    assert not (ids["train"] & ids["validation"]) and not (ids["train"] & ids["test"]) and "0011" not in ids["train"]
    assert set(manifest["outputs"]) == {p.name for p in out.iterdir()} - {"manifest.json"}


def test_multi_source_bad_settings(tmp_path):
    train, test = msource_files(tmp_path)
    with pytest.raises(BenchError, match="k must be in 1..3"):
        prepare(annotations_train=train, out=tmp_path / "out", multi_source=MultiSourceConfig(k=(4,), min_instances=4))
    with pytest.raises(DataError, match="multi-source test split is empty"):
        prepare(annotations_test=test, out=tmp_path / "out", multi_source=MultiSourceConfig(k=(3,), min_instances=6))
    assert not (tmp_path / "out").exists()


def test_read_tuples_errors(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("to,from_1,from_3\na,b,c\n")
    with pytest.raises(DataError, match="header"):
        read_tuples(path)
    path.write_text("to,from_1,from_2\na,b,c\na,b\n")
    with pytest.raises(DataError, match="expected 3") as err:
        read_tuples(path)
    assert err.value.line == 3
    with pytest.raises(DataError, match="asked for 3 sources"):
        read_tuples(tmp_path / "t.csv", k=3)


# ------------------------------------------------------------------------ CLI
def test_cli_prepare(ann_files, tmp_path):
    out = tmp_path / "out"
    args = ["data", "prepare", "--annotations-train", str(ann_files[0]), "--annotations-test", str(ann_files[1]), "--out", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "train: 8 pairs (rule), 2 identities, 5/8 images kept" in result.output
    assert read_pairs(out / "pairs-train.csv")[0] == (name("0001", 1), name("0001", 2))


def test_cli_prepare_dataset_and_errors(dataset, tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["data", "prepare", "--dataset", str(dataset), "--out", str(tmp_path / "out"),
                                 "--multi-source", "1", "--min-instances", "2", "--val-fraction", "0.5"])
    assert result.exit_code == 0, result.output
    assert len(read_tuples(tmp_path / "out" / "msource-validation-k1.csv")) == 2
    (dataset / "test" / name("0004", 1)).unlink()
    result = runner.invoke(app, ["data", "prepare", "--dataset", str(dataset), "--out", str(tmp_path / "bad")])
    assert result.exit_code != 0 and isinstance(result.exception, DataError) and name("0004", 1) in str(result.exception)
    assert not (tmp_path / "bad").exists()
    result = runner.invoke(app, ["data", "prepare", "--dataset", str(dataset), "--out", str(tmp_path / "bad"), "--image-size", "12"])
    assert isinstance(result.exception, BenchError) and "HxW" in str(result.exception)
