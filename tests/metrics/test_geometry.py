"""DeepFashion geometries (bench/metrics/geometry.py): which metric pads, the GFLA resize, the pose-gan frame.

References: PATN getMetrics_fashion.py pads SSIM and IS only (protocol.md section 3);
GFLA's resize is torchvision's ``F.resize`` on a PIL image and its keypoint map is
``cords_to_map`` (worked by hand below); the pose-gan old-split annotation file in
../shared/data/fashion-posegan-old is in the 256x256 frame (protocol.md 1.1).
"""
from __future__ import annotations

import shutil

import numpy as np
import pytest
from PIL import Image

from bench.data.annotations import read_annotations, write_annotations, write_pairs
from bench.data.layout import KINDS, POSEGAN_FASHION, DatasetLayout
from bench.errors import BenchError
from bench.metrics.geometry import (GEOMETRIES, MARKET, check_frame, conform, geometry_of, resize_image,
                                    scale_keypoints)
from bench.metrics.protocol import PROTOCOLS, get_protocol

ALL = ("ssim", "mask-ssim", "is", "mask-is", "fid", "kid", "lpips", "mask-lpips", "psnr", "mask-psnr",
       "psnr-uint8-wrap", "pckh")


def test_only_patn_pads_and_only_ssim_and_is():
    patn = GEOMETRIES["patn"]
    assert {m for m in ALL if patn.pad(m)} == {"ssim", "mask-ssim", "is", "mask-is"}
    assert all(patn.pad(m) == 40 for m in ("ssim", "is"))  # 176 + 2 * 40 = 256 (addBounding)
    for geometry in (GEOMETRIES["posegan"], GEOMETRIES["gfla"], MARKET):
        assert not any(geometry.pad(m) for m in ALL)
    assert geometry_of("market", "gfla") is MARKET  # Market has one geometry whatever the protocol


def test_named_protocols_pick_their_geometry():
    expected = {"paper": "patn", "modern": "patn", "posegan": "posegan", "posegan-modern": "posegan", "gfla": "gfla"}
    assert {name: p.fashion_geometry for name, p in PROTOCOLS.items()} == expected
    assert get_protocol("gfla").fid_convention == "gfla-script" and get_protocol("paper").fid_convention == "torch-fidelity"
    assert get_protocol("posegan-modern").ssim_kernel == "skimage-11"  # Horiuchi et al.: "window size of 11"


def test_gfla_resize_is_torchvisions_pil_resize():
    from bench._torchvision_compat import import_torchvision

    tf = import_torchvision().transforms.functional
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (256, 176, 3)).astype(np.uint8)
    expected = np.asarray(tf.resize(Image.fromarray(image), (256, 256)))  # GFLA data/base_dataset.py
    np.testing.assert_array_equal(resize_image(image, (256, 256)), expected)
    assert conform(image, GEOMETRIES["gfla"]).shape == (256, 256, 3)
    square = rng.integers(0, 256, (256, 256, 3)).astype(np.uint8)
    assert conform(square, GEOMETRIES["gfla"]) is square  # GFLA's own 256x256 outputs are used as they are
    assert conform(image[:, :100], GEOMETRIES["gfla"]) is None


def test_gfla_keypoints_follow_cords_to_map_by_hand():
    kp = np.array([[[100, 175], [0, 0], [255, 88], [-1, -1], [7, 11]]])
    # cords_to_map: y / 256 * 256, x / 176 * 256, then int(): 175 -> 254.54 -> 254, 88 -> 128, 11 -> 16
    expected = np.array([[[100, 254], [0, 0], [255, 128], [-1, -1], [7, 16]]])
    np.testing.assert_array_equal(scale_keypoints(kp, (256, 176), (256, 256)), expected)
    assert scale_keypoints(kp, (256, 256), (256, 256)) is kp


def test_frame_checks_name_the_folder_that_would_do():
    check_frame(GEOMETRIES["posegan"], (256, 256), "posegan", "root")
    check_frame(GEOMETRIES["gfla"], (256, 176), "gfla", "root")
    with pytest.raises(BenchError, match=r"^root: protocol 'posegan' \(posegan geometry\) reads DeepFashion folders of 256x256 images, but this folder holds 256x176 images; use a pose-gan-frame folder"):
        check_frame(GEOMETRIES["posegan"], (256, 176), "posegan", "root")
    with pytest.raises(BenchError, match="use a PATN-frame folder"):
        check_frame(GEOMETRIES["patn"], (256, 256), "paper", "root")


def test_old_split_annotations_are_read_as_the_posegan_frame(shared_data, tmp_path):
    """pose-gan's own file: recognised by its name as the 256x256 layout, some keypoints beyond PATN's 176 columns."""
    source = shared_data / "fashion-posegan-old" / "fasion-annotation-test.csv"
    shutil.copy(source, tmp_path / source.name)  # into pytest's tmp folder only, never the repo
    layout = DatasetLayout.open(tmp_path)
    assert layout.kind == POSEGAN_FASHION and layout.kind.image_size == (256, 256)
    annotations = read_annotations(layout.annotations("test"), image_size=layout.kind.image_size)
    assert len(annotations) == 4061  # data/README.md
    xs = np.stack(list(annotations.values()))[..., 1]
    assert xs.max() > 175  # outside a 176-wide crop: this is not the PATN frame
    check_frame(geometry_of("deepfashion", "posegan"), layout.kind.image_size, "posegan", str(tmp_path))
    with pytest.raises(BenchError, match="protocol 'paper'"):
        check_frame(geometry_of("deepfashion", "patn"), layout.kind.image_size, "paper", str(tmp_path))
    from bench.data.splits import prepare

    manifest = prepare(annotations_test=layout.annotations("test"), out=tmp_path / "prepared",
                       image_size=layout.kind.image_size)
    assert manifest["splits"]["test"]["pairs"] == 8670  # pose-gan's fasion-pairs-test.csv (protocol.md 1.3)


# ----------------------------------------------------------------------------- through bench evaluate


def tiny_fashion(root, kind, n_ids=3, per_id=2, seed=0):
    """A dataset folder of ``kind``'s layout with random images and keypoints; returns (names, pairs)."""
    rng = np.random.default_rng(seed)
    h, w = kind.image_size
    (root / "test").mkdir(parents=True)
    (root / "train").mkdir()
    names, annotations = [], {}
    for i in range(n_ids):
        for j in range(per_id):
            name = f"fasionWOMENDressesid{i:08d}01_{j + 1}front.jpg"
            image = np.full((h, w, 3), 255, np.uint8)
            image[40:200, w // 2 - 30:w // 2 + 30] = rng.integers(0, 256, 3)
            Image.fromarray(image).save(root / "test" / name, quality=95)
            kp = np.stack([rng.integers(0, h, 18), rng.integers(0, w, 18)], 1)
            annotations[name] = kp
            names.append(name)
    write_annotations(root / f"{kind.annotation_prefix}-test.csv", annotations)
    write_annotations(root / f"{kind.annotation_prefix}-train.csv", {})
    pairs = [(a, b) for a in names for b in names if a != b and a.split("_")[0] == b.split("_")[0]]
    write_pairs(root / "pairs-test.csv", pairs)
    return names, pairs, annotations


def _evaluate(generated, root, out, protocol, metrics="ssim,psnr,mask-psnr"):
    from bench.evaluate import EvalConfig, evaluate

    return evaluate(EvalConfig(generated_dir=generated, dataset=root, out=out, protocol=protocol,
                               metrics=tuple(metrics.split(",")), progress=False))


def test_gfla_geometry_scores_resized_images_and_keypoints(tmp_path):
    from bench.data.masks import pg2_masks

    root = tmp_path / "data"
    names, pairs, annotations = tiny_fashion(root, KINDS["deepfashion"])
    generated = tmp_path / "gen"
    generated.mkdir()
    rng = np.random.default_rng(1)
    outputs = {}
    for k, (a, b) in enumerate(pairs):  # half at the dataset frame (resized), half at GFLA's 256x256
        image = rng.integers(0, 256, (256, 176 if k % 2 else 256, 3)).astype(np.uint8)
        Image.fromarray(image).save(generated / f"{a}___{b}.png")
        outputs[a, b] = image
    result = _evaluate(generated, root, tmp_path / "gfla.json", "gfla", "psnr,mask-psnr")
    record = result.record
    assert record.get("geometry")["name"] == "gfla" and record.get("geometry")["scored"] == [256, 256]
    assert record.get("geometry")["padded_metrics"] == []
    expected_psnr, expected_mask = [], []
    for a, b in pairs:
        from bench.data.images import load_image

        gen = outputs[a, b] if outputs[a, b].shape[1] == 256 else np.asarray(Image.fromarray(outputs[a, b]).resize((256, 256), Image.BILINEAR))
        target = np.asarray(Image.fromarray(load_image(root / "test" / b)).resize((256, 256), Image.BILINEAR))
        mse = np.mean((gen.astype(np.float64) - target) ** 2)
        expected_psnr.append(10 * np.log10(255 ** 2 / mse))
        kp = annotations[b].astype(np.float64)
        scaled = np.stack([np.trunc(kp[:, 0] / 256 * 256), np.trunc(kp[:, 1] / 176 * 256)], 1).astype(int)
        mask = pg2_masks(scaled[None], (256, 256))[0][..., None]
        expected_mask.append(10 * np.log10(255 ** 2 / np.mean((gen * mask - target * mask.astype(np.float64)) ** 2)))
    np.testing.assert_allclose(result.results["psnr"].per_pair, expected_psnr, rtol=1e-9)
    np.testing.assert_allclose(result.results["mask-psnr"].per_pair, expected_mask, rtol=1e-9)


def test_posegan_geometry_scores_the_frame_unpadded(tmp_path):
    from test_ssim import legacy_ssim

    root = tmp_path / "data"
    names, pairs, _ = tiny_fashion(root, POSEGAN_FASHION)
    generated = tmp_path / "gen"
    generated.mkdir()
    rng = np.random.default_rng(2)
    images = {}
    for a, b in pairs:
        images[a, b] = rng.integers(0, 256, (256, 256, 3)).astype(np.uint8)
        Image.fromarray(images[a, b]).save(generated / f"{a}___{b}.png")
    result = _evaluate(generated, root, tmp_path / "pg.json", "posegan", "ssim")
    from bench.data.images import load_image

    expected = [legacy_ssim(load_image(root / "test" / b), images[a, b]) for a, b in pairs]
    np.testing.assert_allclose(result.results["ssim"].per_pair, expected, atol=1e-7)
    assert result.results["ssim"].details["pad"] == 0 and result.record.get("geometry")["frame"] == [256, 256]


@pytest.mark.parametrize("protocol,kind", [("posegan", "deepfashion"), ("paper", "posegan"), ("gfla", "posegan")])
def test_wrong_frame_for_the_protocol_is_one_line_and_writes_nothing(tmp_path, protocol, kind):
    root = tmp_path / "data"
    tiny_fashion(root, POSEGAN_FASHION if kind == "posegan" else KINDS["deepfashion"])
    generated = tmp_path / "gen"
    generated.mkdir()
    out = tmp_path / "out" / "r.json"
    with pytest.raises(BenchError) as err:
        _evaluate(generated, root, out, protocol)
    assert "\n" not in str(err.value) and f"protocol {protocol!r}" in str(err.value)
    assert not out.parent.exists() or not any(out.parent.iterdir())


def test_a_generated_image_of_neither_size_is_refused_by_name(tmp_path):
    from bench.errors import DataError

    root = tmp_path / "data"
    _, pairs, _ = tiny_fashion(root, KINDS["deepfashion"])
    generated = tmp_path / "gen"
    generated.mkdir()
    for k, (a, b) in enumerate(pairs):
        Image.fromarray(np.zeros((256, 200 if k == 3 else 176, 3), np.uint8)).save(generated / f"{a}___{b}.png")
    out = tmp_path / "r.json"
    with pytest.raises(DataError, match=r"wrong image size: expected 256x176 or 256x256 \(HxW\), got 256x200"):
        _evaluate(generated, root, out, "gfla")
    assert not out.exists()


def test_a_protocol_with_an_unknown_geometry_or_fid_convention_is_refused():
    from bench.metrics.protocol import check_protocol

    check_protocol(get_protocol("gfla"))
    with pytest.raises(BenchError, match=r"fashion_geometry must be one of patn, posegan, gfla, got 'pad'"):
        check_protocol(get_protocol("paper").replace(fashion_geometry="pad"))
    with pytest.raises(BenchError, match=r"fid_convention must be one of torch-fidelity, gfla-script"):
        check_protocol(get_protocol("paper").replace(fid_convention="pytorch-fid"))
