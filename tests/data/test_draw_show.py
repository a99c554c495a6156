from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from bench.cli import app
from bench.data.annotations import write_annotations, write_pairs
from bench.data.draw import COLORS, draw_skeleton, overlay_mask, pose_image
from bench.data.images import load_image, save_image
from bench.data.keypoints import INDEX, SKELETON
from bench.data.masks import pg2_mask
from bench.data.show import TITLES, contact_sheet, display_scale, panel_origin, sheet_shape

H, W = 128, 64
UPRIGHT = np.array([[12, 32], [24, 32], [24, 22], [44, 18], [62, 20], [24, 42], [44, 46], [62, 44],
                    [62, 26], [86, 26], [112, 27], [62, 38], [86, 38], [112, 37], [10, 29], [10, 35],
                    [12, 25], [12, 39]])


def test_joints_get_openpose_colours_and_missing_points_are_skipped():
    kp = UPRIGHT.copy()
    kp[INDEX["l_wrist"]] = -1
    image = pose_image(kp, (H, W))
    assert image.shape == (H, W, 3) and image.dtype == np.uint8
    for i, (y, x) in enumerate(kp):
        if y >= 0:
            assert tuple(image[y, x]) == COLORS[i]
    # the l_elbow - l_wrist limb is gone: nothing drawn below the elbow disc on that side
    assert not image[50:60, 44:50].any()
    # the r_elbow - r_wrist limb (SKELETON index 3) is drawn in its colour halfway down
    k = SKELETON.index((3, 4))
    mid = image[53, 17:22]
    assert any(tuple(p) == COLORS[k] for p in mid)


def test_draw_leaves_input_alone_and_clips_at_borders():
    base = np.full((H, W, 3), 40, np.uint8)
    kp = np.full((18, 2), -1)
    kp[1], kp[2] = (0, 0), (H - 1, W - 1)
    out = draw_skeleton(base, kp, radius=3)
    assert (base == 40).all() and tuple(out[0, 0]) == COLORS[1] and tuple(out[H - 1, W - 1]) == COLORS[2]
    with pytest.raises(ValueError):
        draw_skeleton(base.astype(float), kp)


def test_overlay_mask_blends_only_inside():
    image = np.full((4, 5, 3), 100, np.uint8)
    mask = np.zeros((4, 5), bool)
    mask[1, 2] = True
    out = overlay_mask(image, mask, colour=(200, 0, 100), alpha=0.5)
    assert tuple(out[1, 2]) == (150, 50, 100) and (out[~mask] == 100).all()
    with pytest.raises(ValueError, match="shape"):
        overlay_mask(image, mask[:3])


@pytest.fixture
def dataset(tmp_path):
    names = [f"000{i}_c1s1_00000{j}_01.jpg" for i in (1, 2) for j in range(3)]
    (tmp_path / "test").mkdir()
    rng = np.random.default_rng(0)
    for i, name in enumerate(names):
        save_image(tmp_path / "test" / name, np.full((H, W, 3), (40 * i, 120, 200 - 30 * i), np.uint8), quality=95)
    poses = {}
    for name in names:
        kp = UPRIGHT + rng.integers(-3, 4, UPRIGHT.shape)
        kp[rng.random(18) < 0.2] = -1
        poses[name] = kp
    write_annotations(tmp_path / "market-annotation-test.csv", poses)
    write_pairs(tmp_path / "pairs-test.csv", [(a, b) for a in names for b in names if a != b and a[:4] == b[:4]])
    return tmp_path


def test_contact_sheet_layout_and_content(dataset, tmp_path):
    out = tmp_path / "sheet.png"
    shown = contact_sheet(dataset, out, n=3, seed=1)
    assert len(shown) == 3 and len(set(shown)) == 3
    sheet = load_image(out)
    scale = display_scale((H, W))
    assert scale == 2 and sheet.shape[:2] == sheet_shape(3, (H, W), scale)
    from bench.data.annotations import read_annotations

    annotations = read_annotations(dataset / "market-annotation-test.csv")
    for row, (source, target) in enumerate(shown):
        src, tgt = load_image(dataset / "test" / source), load_image(dataset / "test" / target)
        expected = [draw_skeleton(src, annotations[source]), draw_skeleton(tgt, annotations[target]),
                    overlay_mask(tgt, pg2_mask(annotations[target], (H, W)))]
        for column, panel in enumerate(expected):
            y, x = panel_origin(row, column, (H, W), scale)
            np.testing.assert_array_equal(sheet[y : y + H * scale : scale, x : x + W * scale : scale], panel)
    # captions and titles put dark text on the white strips above the panels
    y, x = panel_origin(0, 0, (H, W), scale)
    assert (sheet[y - 28 : y, x : x + 100] < 128).any() and (sheet[:y - 28, x : x + 100] < 128).any()
    assert len(TITLES) == 3


def test_contact_sheet_is_deterministic_and_caps_n(dataset, tmp_path):
    a = contact_sheet(dataset, tmp_path / "a.png", n=50, seed=0)
    b = contact_sheet(dataset, tmp_path / "b.png", n=50, seed=0)
    assert a == b and len(a) == 12
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()


def test_cli_show(dataset, tmp_path):
    out = tmp_path / "cli.png"
    result = CliRunner().invoke(app, ["data", "show", str(dataset), "--out", str(out), "--n", "2"])
    assert result.exit_code == 0, result.output
    assert "2 pairs" in result.output and load_image(out).shape[:2] == sheet_shape(2, (H, W), 2)
