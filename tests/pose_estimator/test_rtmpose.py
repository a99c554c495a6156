"""The RTMPose estimator, offline: a small ONNX model built here, images with hand-made keypoints.

The model has RTMPose's input (1, 3, 256, 192, normalised RGB) and outputs (SimCC
vectors, 17 x 384 and 17 x 512, split ratio 2) but finds keypoints by colour: COCO
keypoint k is a grey square of level ``LEVELS[k]`` drawn on a black image, so a
correct crop, warp, decoding and mapping back must return the hand-made positions
(within a pixel: the square's centre after bilinear resampling), and the COCO ->
OpenPose reordering must agree with DWPose's own formulation of it.
"""
from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="onnx (a test dependency) builds the small model")
from onnx import TensorProto, helper  # noqa: E402

from bench import weights  # noqa: E402
from cli_helpers import FileHandler, file_server  # noqa: E402
from cli_helpers import run_cli as run  # noqa: E402
from bench.data.annotations import read_annotations  # noqa: E402
from bench.errors import BenchError  # noqa: E402
from bench.metrics.pckh import pckh  # noqa: E402
from bench.pose_estimator import load_estimator  # noqa: E402
from bench.pose_estimator.rtmpose import MEAN, STD, RtmposeEstimator, coco_to_openpose  # noqa: E402

LEVELS = [40 + 13 * k for k in range(17)]  # 40 .. 248, all apart from the black background

# Hand-made COCO-17 keypoints (y, x) in a 128x64 Market frame, one per slot of a 5x4 grid (squares 9 px, 14+ apart).
MARKET_COCO = [(12, 10), (12, 24), (12, 38), (12, 52), (36, 10), (36, 24), (36, 38), (36, 52), (60, 10),
               (60, 24), (60, 38), (60, 52), (84, 10), (84, 24), (84, 38), (84, 52), (108, 24)]


def gaussian_kernel(size: int = 15, sigma: float = 3.0) -> np.ndarray:
    g = np.exp(-((np.arange(size) - size // 2) ** 2) / (2 * sigma**2))
    kernel = np.outer(g, g)
    return kernel / kernel.sum()


def simcc_model(levels=LEVELS, size=(256, 192), sigma=3.0) -> bytes:
    """ONNX: grey = channel 0 un-normalised; heat_k = exp(-(grey - level_k)^2 / 2 sigma^2), blurred by a Gaussian
    wider than the squares (so each square gives one peak, at its centre); simcc_x = max over rows, simcc_y =
    max over columns, each bin repeated twice (split ratio 2)."""
    h, w = size
    k = len(levels)
    const = lambda name, value, dims=(): helper.make_tensor(name, TensorProto.FLOAT, dims, np.ravel(value).tolist())  # noqa: E731
    inits = [const("std0", STD[0]), const("mean0", MEAN[0]), const("levels", levels, (1, k, 1, 1)),
             const("neg", -1 / (2 * sigma**2)), helper.make_tensor("c0", TensorProto.INT64, (1,), [0]),
             helper.make_tensor("ax3", TensorProto.INT64, (1,), [3]),
             helper.make_tensor("shape", TensorProto.INT64, (3,), [1, k, -1]),
             const("blur", np.broadcast_to(gaussian_kernel(), (k, 1, 15, 15)), (k, 1, 15, 15))]
    nodes = [
        helper.make_node("Gather", ["input", "c0"], ["x0"], axis=1),
        helper.make_node("Mul", ["x0", "std0"], ["x1"]),
        helper.make_node("Add", ["x1", "mean0"], ["grey"]),
        helper.make_node("Sub", ["grey", "levels"], ["d"]),
        helper.make_node("Mul", ["d", "d"], ["d2"]),
        helper.make_node("Mul", ["d2", "neg"], ["e"]),
        helper.make_node("Exp", ["e"], ["heat"]),
        helper.make_node("Conv", ["heat", "blur"], ["pooled"], group=k, kernel_shape=[15, 15], pads=[7, 7, 7, 7]),
    ]
    for axis, name in ((2, "simcc_x"), (3, "simcc_y")):
        nodes += [
            helper.make_node("ReduceMax", ["pooled"], [f"m{axis}"], axes=[axis], keepdims=0),
            helper.make_node("Unsqueeze", [f"m{axis}", "ax3"], [f"u{axis}"]),
            helper.make_node("Concat", [f"u{axis}", f"u{axis}"], [f"c{axis}"], axis=3),
            helper.make_node("Reshape", [f"c{axis}", "shape"], [name]),
        ]
    graph = helper.make_graph(nodes, "simcc-by-colour", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, h, w])],
                              [helper.make_tensor_value_info("simcc_x", TensorProto.FLOAT, [1, k, 2 * w]),
                               helper.make_tensor_value_info("simcc_y", TensorProto.FLOAT, [1, k, 2 * h])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


def draw(coco: list[tuple[int, int] | None], size: tuple[int, int], half: int = 4) -> np.ndarray:
    image = np.zeros((*size, 3), np.uint8)
    for k, point in enumerate(coco):
        if point is not None:
            y, x = point
            image[y - half : y + half + 1, x - half : x + half + 1] = LEVELS[k]
    return image


def dwpose_reference(coco_yx: np.ndarray) -> np.ndarray:
    """DWPose's own formulation (annotator/dwpose/wholebody.py): the neck appended as keypoint 17, then
    new[openpose_idx] = old[mmpose_idx]. Only used here for all points present."""
    kp = np.concatenate([coco_yx, coco_yx[[5, 6]].mean(axis=0, keepdims=True)])
    mmpose_idx = [17, 6, 8, 10, 7, 9, 12, 14, 16, 13, 15, 2, 1, 4, 3]
    openpose_idx = [1, 2, 3, 4, 6, 7, 8, 9, 10, 12, 13, 14, 15, 16, 17]
    new = kp.copy()
    new[openpose_idx] = kp[mmpose_idx]
    return new


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("onnx") / "simcc.onnx"
    path.write_bytes(simcc_model())
    return path


def test_coco_to_openpose_is_dwposes_reordering():
    coco_yx = np.array(MARKET_COCO, np.float64)
    got = coco_to_openpose(coco_yx[:, ::-1].copy(), np.ones(17), 0.3, (128, 64))
    assert (got == np.rint(dwpose_reference(coco_yx)).astype(np.int64)).all()
    # by hand: OpenPose 2 is the right shoulder = COCO 6; OpenPose 15 the left eye = COCO 1; neck the shoulders' midpoint
    assert tuple(got[2]) == MARKET_COCO[6] and tuple(got[15]) == MARKET_COCO[1] and tuple(got[1]) == (36, 31)


def test_missing_points_and_neck():
    xy = np.array(MARKET_COCO, np.float64)[:, ::-1].copy()
    scores = np.ones(17)
    scores[5] = 0.3  # left shoulder at the threshold: missing (score must exceed it), so no neck
    xy[0] = (70.0, 10.0)  # nose placed outside the 64-wide frame: missing
    got = coco_to_openpose(xy, scores, 0.3, (128, 64))
    assert tuple(got[5]) == (-1, -1) and tuple(got[1]) == (-1, -1) and tuple(got[0]) == (-1, -1)
    assert tuple(got[2]) == MARKET_COCO[6]


@pytest.mark.parametrize("size, scale", [((128, 64), 1), ((256, 176), 2)])
def test_finds_hand_made_keypoints(model_file, size, scale):
    """Market frames are enlarged into the 256x192 input, DeepFashion frames shrunk: both map back."""
    coco = [(y * scale, x * scale + (24 if scale == 2 else 0)) for y, x in MARKET_COCO]
    drawn = list(coco)
    drawn[5] = None  # no left shoulder in the image
    estimator = load_estimator(f"rtmpose:{model_file}")
    assert isinstance(estimator, RtmposeEstimator) and "sha256" in estimator.name and "onnxruntime" in estimator.name
    half = 4 if scale == 1 else 6
    pred = estimator.predict(np.stack([draw(coco, size, half), draw(drawn, size, half)]), ["a.jpg", "b.jpg"])
    expected = dwpose_reference(np.array(coco, np.float64))
    assert np.abs(pred[0] - expected).max() <= 1, (pred[0] - expected).tolist()
    assert (pred[1, [1, 5]] == -1).all()  # left shoulder and so the neck are missing
    others = [i for i in range(18) if i not in (1, 5)]
    assert np.abs(pred[1, others] - expected[others]).max() <= 1
    target = np.rint(expected).astype(np.int64)[None].repeat(2, 0)
    value, details = pckh(pred, target)
    assert details["correct"] == 34 and details["total"] == 36 and value == pytest.approx(34 / 36)


def test_bad_models_are_refused_in_one_line(tmp_path):
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model")
    with pytest.raises(BenchError, match=r"junk.onnx: not an ONNX model onnxruntime can load") as err:
        load_estimator(f"rtmpose:{junk}")
    assert "\n" not in str(err.value)
    wrong = tmp_path / "eighteen.onnx"
    wrong.write_bytes(simcc_model(levels=[40 + 11 * k for k in range(18)]))
    with pytest.raises(BenchError, match="not a COCO-17 SimCC model"):
        load_estimator(f"rtmpose:{wrong}").predict(np.zeros((1, 128, 64, 3), np.uint8), ["a.jpg"])
    with pytest.raises(BenchError, match="no such ONNX model file"):
        load_estimator(f"rtmpose:{tmp_path / 'absent.onnx'}")


# ----------------------------------------------------------------------------- fetched on first use


ZIP = "rtmpose-m_simcc-body7_pt-body7_420e-256x192-e48f03d0_20230504.zip"  # the published archive's name


def sdk_zip(member: str, data: bytes) -> bytes:
    """The layout of OpenMMLab's ONNX SDK archives: a folder with end2end.onnx beside the SDK's json files."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("rtmpose-m/deploy.json", "{}")
        zf.writestr(f"rtmpose-m/{member}", data)
    return buffer.getvalue()


@pytest.fixture
def published_here(tmp_path, monkeypatch, model_file):
    """The published spec pointed at a local server, its digest and size the small model's."""
    with file_server() as base:
        data = model_file.read_bytes()
        spec = weights.WEIGHTS["rtmpose-m-body7"]
        monkeypatch.setitem(weights.WEIGHTS, spec.name, weights.WeightSpec(
            spec.name, spec.filename, spec.used_by, f"{base}/{ZIP}", weights.sha256(model_file), len(data),
            member=spec.member))
        hub = tmp_path / "hub"
        monkeypatch.setattr(weights, "hub_checkpoints", lambda: hub)
        monkeypatch.delenv("BENCH_WEIGHTS_DIR", raising=False)
        yield hub, data


def test_first_use_downloads_extracts_and_checks(published_here):
    hub, data = published_here
    FileHandler.files = {ZIP: sdk_zip("end2end.onnx", data)}
    estimator = load_estimator("rtmpose")
    target = hub / weights.WEIGHTS["rtmpose-m-body7"].filename
    assert target.read_bytes() == data and sorted(p.name for p in hub.iterdir()) == [target.name]
    assert estimator.name.startswith("RTMPose-m body7 256x192 (OpenMMLab ONNX) (sha256 ")


@pytest.mark.parametrize("archive, message", [
    (lambda data: sdk_zip("other.onnx", data), "holds 0 files named end2end.onnx"),
    (lambda data: sdk_zip("end2end.onnx", data[:-10]), "truncated or not the published file"),
    (lambda data: b"PK not really a zip", "not a readable zip archive"),
    (None, "HTTP 404"),
])
def test_bad_downloads_leave_nothing(published_here, archive, message):
    hub, data = published_here
    FileHandler.files = {ZIP: archive(data)} if archive else {}
    with pytest.raises(weights.DownloadFailed, match=message):
        load_estimator("rtmpose")
    assert not hub.exists() or not any(hub.iterdir())


# ----------------------------------------------------------------------------- bench pose annotate


def test_annotation_format_is_the_real_files(shared_data):
    """The writer reproduces rows of the published annotation files byte for byte (the format annotate writes)."""
    from bench.data.annotations import format_annotations

    for path in (shared_data / "market" / "market-annotation-test.csv",
                 shared_data / "fashion-posegan-old" / "fasion-annotation-test.csv"):
        lines = path.read_text().splitlines()[:6]
        rows = read_annotations(path)
        first = {name: rows[name] for name in (line.split(":", 1)[0] for line in lines[1:])}
        assert format_annotations(first) == "\n".join(lines) + "\n"


def test_annotate_writes_the_annotation_format(model_file, tmp_path, capsys):
    from bench.data.images import save_image

    folder = tmp_path / "images"
    folder.mkdir()
    coco = [(y, x) for y, x in MARKET_COCO]
    save_image(folder / "0001_c1s1_000001_00.png", draw(coco, (128, 64)))
    save_image(folder / "0002_c1s1_000001_00.png", draw(coco[:5] + [None] + coco[6:], (128, 64)))
    out = tmp_path / "annotations.csv"
    code, stdout, _ = run(["pose", "annotate", str(folder), "--out", str(out), "--estimator", f"rtmpose:{model_file}"], capsys)
    assert code == 0
    rows = read_annotations(out, image_size=(128, 64))
    assert list(rows) == ["0001_c1s1_000001_00.png", "0002_c1s1_000001_00.png"]
    expected = dwpose_reference(np.array(coco, np.float64))
    assert np.abs(rows["0001_c1s1_000001_00.png"] - expected).max() <= 1
    assert (rows["0002_c1s1_000001_00.png"][[1, 5]] == -1).all()
    assert out.read_text().splitlines()[0] == "name:keypoints_y:keypoints_x"
    assert "2 images, 34 keypoints found of 36" in stdout


def test_annotate_bad_input_writes_nothing(model_file, tmp_path, capsys):
    from bench.data.images import save_image

    folder = tmp_path / "images"
    folder.mkdir()
    save_image(folder / "a.png", draw(MARKET_COCO, (128, 64)))
    (folder / "b.jpg").write_bytes(b"\xff\xd8 truncated")
    out = tmp_path / "out.csv"
    model = f"rtmpose:{model_file}"
    code, _, err = run(["pose", "annotate", str(folder), "--out", str(out), "--estimator", model], capsys)
    assert code == 1 and "b.jpg" in err and len(err.strip().splitlines()) == 1
    assert not out.exists() and [p.name for p in tmp_path.iterdir()] == ["images"]
    other = tmp_path / "notes.txt"
    other.write_text("my notes\n")
    code, _, err = run(["pose", "annotate", str(folder / "a.png"), "--out", str(other), "--estimator", model], capsys)
    assert code == 1 and "notes.txt: exists and is not an annotation file" in err
    assert other.read_text() == "my notes\n"
    code, _, err = run(["pose", "annotate", str(folder / "a.png"), "--out", str(out), "--estimator", "csv:x.csv"], capsys)
    assert code == 1 and "finds no keypoints" in err and not out.exists()
    code, _, err = run(["pose", "annotate", str(tmp_path / "absent"), "--out", str(out), "--estimator", model], capsys)
    assert code == 1 and "no such image file or folder" in err and not out.exists()


# ----------------------------------------------------------------------------- end to end: evaluate, then the table caption


def test_evaluate_with_rtmpose_and_the_caption_naming_it(model_file, tmp_path):
    """Targets drawn from their own annotations: copies of them find every keypoint (PCKh 1), black images none (0);
    the record names the estimator and the leaderboard caption repeats it."""
    from typer.testing import CliRunner

    from bench.cli import app
    from bench.data.annotations import write_annotations, write_pairs
    from bench.data.images import save_image
    from bench.evaluate import EvalConfig, evaluate

    root = tmp_path / "market"
    (root / "test").mkdir(parents=True)
    names = ["0001_c1s1_000001_01.jpg", "0002_c1s1_000002_01.jpg"]
    shifted = [[(y, x + (1 if i else 0)) for y, x in MARKET_COCO] for i in range(2)]
    annotations = {n: np.rint(dwpose_reference(np.array(c, np.float64))).astype(np.int64) for n, c in zip(names, shifted)}
    for name, coco in zip(names, shifted):
        save_image(root / "test" / name, draw(coco, (128, 64)), quality=100)
    write_annotations(root / "market-annotation-test.csv", annotations)
    write_pairs(root / "pairs-test.csv", [(names[0], names[1]), (names[1], names[0])])
    copies, black = tmp_path / "copies", tmp_path / "black"
    copies.mkdir(), black.mkdir()
    for a, b in [(names[0], names[1]), (names[1], names[0])]:
        save_image(copies / f"{a}___{b}.png", load_image_rgb(root / "test" / b))
        save_image(black / f"{a}___{b}.png", np.zeros((128, 64, 3), np.uint8))
    values = {}
    for folder in (copies, black):
        out = tmp_path / "metrics" / f"{folder.name}.json"
        record = evaluate(EvalConfig(generated_dir=folder, dataset=root, out=out, metrics=("pckh",),
                                     estimator=f"rtmpose:{model_file}", progress=False)).record.to_dict()
        values[folder.name] = record["metrics"]["pckh"]["value"]
        assert record["estimator"].startswith(f"rtmpose:{model_file} (sha256 ")
        assert record["metrics"]["pckh"]["details"]["estimator"] == record["estimator"]
    assert values == {"copies": 1.0, "black": 0.0}
    result = CliRunner().invoke(app, ["report", str(tmp_path / "metrics"), "--out", str(tmp_path / "report")])
    assert result.exit_code == 0, result.output
    board = (tmp_path / "report" / "leaderboard.md").read_text()
    assert f"Measured PCKh: keypoints of the generated images found by rtmpose:{model_file} (sha256 " in board


def load_image_rgb(path):
    from bench.data.images import load_image

    return load_image(path)


def test_install_takes_the_published_zip(published_here, tmp_path, capsys):
    """Fetched by hand on a connected machine, the archive itself installs: its end2end.onnx is checked."""
    hub, data = published_here
    name = weights.archive_name(weights.WEIGHTS["rtmpose-m-body7"])
    assert name == ZIP
    bad = tmp_path / "bad" / name
    bad.parent.mkdir()
    bad.write_bytes(sdk_zip("end2end.onnx", data[:-1]))
    code, _, err = run(["weights", "install", str(bad)], capsys)
    assert code == 1 and "not the published file, nothing was installed" in err and len(err.strip().splitlines()) == 1
    assert not hub.exists() or not any(hub.iterdir())
    good = tmp_path / name
    good.write_bytes(sdk_zip("end2end.onnx", data))
    code, out, _ = run(["weights", "install", str(good)], capsys)
    target = hub / weights.WEIGHTS["rtmpose-m-body7"].filename
    assert code == 0 and out.strip() == str(target) and target.read_bytes() == data
    assert sorted(p.name for p in hub.iterdir()) == [target.name]


@pytest.mark.parametrize("size", [(128, 64), (256, 176)])
def test_warp_is_scipys_bilinear_affine_map(size):
    """The crop warp against an independent resampler: scipy.ndimage.affine_transform (order 1, 0 outside) with
    the map of mmpose's get_warp_matrix, input index = centre + (output index - input_size / 2) * scale / input_size."""
    from scipy import ndimage

    from bench.pose_estimator.rtmpose import Crop, warp

    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
    crop = Crop.whole_frame(size, (256, 192))
    step = crop.scale / np.array([192, 256])  # (x, y) frame pixels per input pixel
    offset = (crop.center[1] - 128 * step[1], crop.center[0] - 96 * step[0])
    expected = np.stack([ndimage.affine_transform(image[..., c].astype(np.float64), (step[1], step[0]), offset=offset,
                                                  output_shape=(256, 192), order=1, mode="constant", cval=0.0)
                         for c in range(3)], -1)
    got = warp(image, crop, (256, 192)).astype(np.float64)
    inside = np.zeros((256, 192), bool)  # scipy's "constant" mode treats the last pixel's edge differently: compare
    ys = crop.center[1] + (np.arange(256) - 128) * step[1]  # where all four neighbours are inside the frame
    xs = crop.center[0] + (np.arange(192) - 96) * step[0]
    inside[np.ix_((ys >= 0) & (ys <= size[0] - 1), (xs >= 0) & (xs <= size[1] - 1))] = True
    assert inside.sum() > 0.4 * inside.size
    assert np.abs(got[inside] - expected[inside]).max() <= 0.5 + 1e-9
    outside = (xs <= -1) | (xs >= size[1])  # columns whose both neighbours are off the frame: black, as cv2's border
    assert outside.any() and (got[:, outside] == 0).all()
