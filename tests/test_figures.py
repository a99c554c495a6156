"""Figures: pixel-exact qualitative grids, bar charts and loss curves from tiny fixtures."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from bench.cli import app
from bench.data.annotations import write_annotations, write_pairs
from bench.data.draw import pose_image
from bench.errors import BenchError, DataError
from bench.figures import DPI, PanelGrid, bar_charts, loss_curves, loss_totals, qualitative_figure, save_figure
from bench.train.log import read_train_log

SIZE = (128, 64)
NAMES = ["0001_c1s1_000001_01.jpg", "0001_c2s1_000002_01.jpg", "0002_c1s1_000003_01.jpg", "0002_c3s1_000004_01.jpg"]
PAIRS = [(NAMES[0], NAMES[1]), (NAMES[1], NAMES[0]), (NAMES[2], NAMES[3]), (NAMES[3], NAMES[2])]


def noise(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (*SIZE, 3), dtype=np.uint8)


def keypoints(i: int) -> np.ndarray:
    kp = np.full((18, 2), -1)
    kp[:14, 0] = np.linspace(10, 120, 14).astype(int)
    kp[:14, 1] = 10 + 10 * i + np.arange(14) % 3
    return kp


@pytest.fixture
def dataset(tmp_path):
    root = tmp_path / "market"
    (root / "test").mkdir(parents=True)
    for i, name in enumerate(NAMES):
        Image.fromarray(noise(i)).save(root / "test" / name, format="PNG")  # lossless despite the .jpg name
    write_annotations(root / "market-annotation-test.csv", {n: keypoints(i) for i, n in enumerate(NAMES)})
    write_pairs(root / "pairs-test.csv", PAIRS)
    return root


@pytest.fixture
def generated(tmp_path):
    """Model "a": single images {from}___{to}.png; model "b": PATN 5-panel composites."""
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    for k, (src, tgt) in enumerate(PAIRS):
        Image.fromarray(noise(100 + k)).save(a / f"{src}___{tgt}.png")
        panels = [np.zeros((*SIZE, 3), np.uint8)] * 4 + [noise(200 + k)]
        Image.fromarray(np.concatenate(panels, axis=1)).save(b / f"{src}___{tgt}_vis.png")
    return {"a": a, "b": b}


def panel(png: np.ndarray, grid: PanelGrid, row: int, col: int) -> np.ndarray:
    top, left = grid.origin(row, col)
    return png[top:top + grid.panel[0], left:left + grid.panel[1]]


@pytest.mark.parametrize("scale", [1, 2])
def test_grid_is_pixel_exact(tmp_path, dataset, generated, scale):
    chosen = [PAIRS[2], PAIRS[0]]
    fig, shown = qualitative_figure(dataset, generated, chosen=chosen, scale=scale)
    out = save_figure(fig, tmp_path / "grid.png")
    png = np.asarray(Image.open(out).convert("RGB"))
    grid = PanelGrid(2, 5, (SIZE[0] * scale, SIZE[1] * scale))
    assert shown == chosen and png.shape[:2] == grid.size == (22 + 2 * (128 * scale + 4), 4 + 5 * (64 * scale + 4))
    enlarge = lambda im: np.repeat(np.repeat(im, scale, axis=0), scale, axis=1)  # noqa: E731
    for row, k in enumerate([2, 0]):
        src, tgt = PAIRS[k]
        expected = [noise(NAMES.index(src)), pose_image(keypoints(NAMES.index(tgt)), SIZE), noise(NAMES.index(tgt)),
                    noise(100 + k), noise(200 + k)]
        for col, image in enumerate(expected):
            np.testing.assert_array_equal(panel(png, grid, row, col), enlarge(image), err_msg=f"row {row} col {col}")
    assert (png[grid.title:grid.title + 3, :3] == 255).all()  # white gaps
    assert (png[:grid.title] < 128).any()  # column titles are drawn


def test_random_pairs_are_seeded_and_only_those_every_model_has(tmp_path, dataset, generated):
    (generated["a"] / f"{PAIRS[1][0]}___{PAIRS[1][1]}.png").unlink()
    picks = [qualitative_figure(dataset, generated, n=3, seed=s)[1] for s in range(6)]
    assert all(len(p) == 3 and PAIRS[1] not in p for p in picks)
    assert picks[0] == qualitative_figure(dataset, generated, n=3, seed=0)[1]
    assert qualitative_figure(dataset, generated, n=10)[1] == [PAIRS[0], PAIRS[2], PAIRS[3]]
    with pytest.raises(BenchError, match="has no generated image for every model"):
        qualitative_figure(dataset, generated, chosen=[PAIRS[1]])
    with pytest.raises(BenchError, match="is not a test pair"):
        qualitative_figure(dataset, generated, chosen=[(NAMES[0], NAMES[2])])


def test_pdf_page_has_the_png_size(tmp_path, dataset, generated):
    fig, _ = qualitative_figure(dataset, generated, chosen=[PAIRS[0]], scale=1)
    out = save_figure(fig, tmp_path / "grid.pdf")
    data = out.read_bytes()
    height, width = PanelGrid(1, 5, SIZE).size
    assert data.startswith(b"%PDF")
    box = [float(v) for v in re.search(rb"/MediaBox \[\s*([\d.\s]+)\]", data).group(1).split()]
    assert box == pytest.approx([0, 0, width * 72 / DPI, height * 72 / DPI], abs=0.01)
    with pytest.raises(BenchError, match=r"must end in \.png or \.pdf"):
        save_figure(qualitative_figure(dataset, generated, chosen=[PAIRS[0]])[0], tmp_path / "grid.jpg")


def test_figure_cli(tmp_path, dataset, generated):
    out = tmp_path / "fig" / "grid.png"
    args = ["figure", "--dataset", str(dataset), "--generated", f"a={generated['a']}", "--generated", f"b={generated['b']}",
            "--out", str(out), "--pair", f"{PAIRS[3][0]},{PAIRS[3][1]}", "--scale", "1"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert Image.open(out).size == PanelGrid(1, 5, SIZE).size[::-1]
    bad = CliRunner().invoke(app, [*args[:-4], "--pair", "x.jpg"])
    assert isinstance(bad.exception, BenchError) and "expected FROM,TO" in str(bad.exception)


# ----------------------------------------------------------------------------- bars


def record(path, model, values, dataset="market", protocol="paper"):
    metrics = {name: {"value": v, "higher_is_better": name != "fid", "per_pair": False,
                      "reason": None if v is not None else "weights missing"} for name, v in values.items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"model": model, "dataset": {"kind": dataset}, "protocol": {"name": protocol},
                                "metrics": metrics}))


def test_bar_charts_one_file_per_metric(tmp_path):
    results = tmp_path / "metrics"
    record(results / "patn" / "synth-market.json", "patn", {"ssim": 0.31, "fid": 20.0})
    record(results / "pona" / "synth-market.json", "pona", {"ssim": 0.33, "fid": None})
    record(results / "pona" / "synth-fashion.json", "pona", {"ssim": 0.7, "fid": 9.0}, dataset="deepfashion")
    written = bar_charts(results, "synth-market", tmp_path / "bars")
    assert [p.name for p in written] == ["ssim.png", "fid.png"]
    assert Image.open(written[0]).size == (int(3.1 * DPI), 3 * DPI)  # 2 bars: max(3, 0.8 * 2 + 1.5) inches
    result = CliRunner().invoke(app, ["plot", "bars", "--results", str(results), "--dataset", "deepfashion",
                                      "--out", str(tmp_path / "df"), "--format", "pdf"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "df").iterdir()) == ["fid.pdf", "ssim.pdf"]
    with pytest.raises(BenchError, match="no results for dataset 'x' under protocol 'paper'.*patn/synth-market"):
        bar_charts(results, "x", tmp_path / "x")
    record(results / "pona" / "again" / "synth-market.json", "pona", {"ssim": 0.4})
    with pytest.raises(BenchError, match="several results for model pona on synth-market"):
        bar_charts(results, "synth-market", tmp_path / "bars")


# ----------------------------------------------------------------------------- curves

HEADER = "step,lr_g,lr_d,D_PB/fake,D_PB/real,G/gan,G/l1,seconds"


def write_log(folder, rows, model="patn"):
    folder.mkdir(parents=True)
    (folder / "train_log.csv").write_text("\n".join([HEADER, *rows]) + "\n")
    (folder / "meta.json").write_text(json.dumps({"model": model}))
    return folder


def test_loss_curves_one_panel_per_network_generator_first(tmp_path):
    rows = [f"{s},0.0002,0.0002,{0.5 / s},0.4,0.7,{10 / s},{s / 10}" for s in (10, 20, 30)]
    runs = [write_log(tmp_path / "r1", rows), write_log(tmp_path / "r2", rows[:2], model="pona")]
    fig = loss_curves(runs)
    axes = fig.axes
    assert [ax.get_ylabel() for ax in axes] == ["G", "D_PB"]
    assert [len(ax.lines) for ax in axes] == [4, 4]  # 2 terms x 2 runs
    l1 = [line for line in axes[0].lines if line.get_label() == "l1 · patn (r1)"][0]
    np.testing.assert_allclose(l1.get_ydata(), [1.0, 0.5, 10 / 30])
    np.testing.assert_allclose(l1.get_xdata(), [10, 20, 30])
    out = save_figure(fig, tmp_path / "curves.png")
    assert Image.open(out).size == (640, 480)  # 6.4 x 2.4 inches per panel at DPI 100
    result = CliRunner().invoke(app, ["plot", "curves", str(runs[0]), str(runs[0] / "train_log.csv"),
                                      "--out", str(tmp_path / "c.pdf")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "c.pdf").read_bytes().startswith(b"%PDF")


def test_bad_training_logs_name_file_and_line(tmp_path):
    bad = write_log(tmp_path / "bad", ["10,0.0002,0.0002,0.1,0.2,0.3,0.4,1", "20,0.0002,x,0.1,0.2,0.3,0.4,2"])
    with pytest.raises(DataError, match=r"train_log.csv:3: not a number"):
        read_train_log(bad / "train_log.csv")
    with pytest.raises(DataError, match="training log does not exist"):
        loss_curves([tmp_path / "nothing"])
    (tmp_path / "nostep.csv").write_text("a,b\n1,2\n")
    with pytest.raises(DataError, match="'step' column"):
        read_train_log(tmp_path / "nostep.csv")


def test_loss_totals_sum_each_networks_terms_for_dvc_plots(tmp_path):
    run = write_log(tmp_path / "r", ["5,0.0002,0.0002,0.5,0.25,4.0,2.0,1.5", "10,0.0002,0.0002,0.25,0.25,3.0,1.0,3.0"])
    assert loss_totals(read_train_log(run / "train_log.csv")) == "step,G,D\n5,6.0,0.75\n10,4.0,0.5\n"
    (tmp_path / "g.csv").write_text("step,lr_g,G/kl,G/rec,seconds\n1,0.001,0.5,1.0,0.1\n")  # no discriminator
    assert loss_totals(read_train_log(tmp_path / "g.csv")) == "step,G,D\n1,1.5,\n"
