"""`bench evaluate --pattern/--panel`: other methods' released outputs scored without renaming.

The reference is the project's own single-image layout: the same generated frames,
named and laid out as NTED and CASD write them (their code, cited in README), must
give exactly the numbers of the single-image folder (PNG, so no re-encoding).
"""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from bench.errors import BenchError, DataError
from bench.evaluate import check_distinct, generated_name, parse_panel
from cli_helpers import run_cli
from test_evaluate import PAIRS, SIZE, dataset, l1_metric, read, run, write_generated  # noqa: F401  (fixtures)


def strip(dataset, a, b, generated, panels: int, at: int) -> Image.Image:
    """A CASD-like strip: source, then grey "pose" panels, the target at panel 4 of 7, ``generated`` at ``at``."""
    frames = [np.full((*SIZE, 3), 40 * k, np.uint8) for k in range(panels)]
    frames[0], frames[3] = read(dataset / "test" / a), read(dataset / "test" / b)
    frames[at - 1] = generated
    return Image.fromarray(np.concatenate(frames, axis=1))


def test_nted_names_give_the_numbers_of_single_images(tmp_path, dataset, l1_metric):
    single = write_generated(tmp_path / "single", dataset, source_side=True)
    nted = write_generated(tmp_path / "nted", dataset, source_side=True, name=lambda a, b: f"{a[:-4]}_2_{b[:-4]}_vis.png")
    ev_single, _ = run(tmp_path, dataset, single, metrics=("test-l1",))
    ev, out = run(tmp_path, dataset, nted, metrics=("test-l1",), pattern="{from_stem}_2_{to_stem}_vis.png")
    assert ev.record.metrics["test-l1"].value == ev_single.record.metrics["test-l1"].value > 0.1
    generated = json.loads(out.read_text())["generated"]
    assert generated["format"] == "pattern" and generated["pattern"] == "{from_stem}_2_{to_stem}_vis.png"
    assert generated["panel"] == "1/1" and generated["unmatched_files"] == 0


def test_panel_of_a_seven_panel_strip(tmp_path, dataset, l1_metric):
    single = write_generated(tmp_path / "single", dataset, source_side=True)
    casd = tmp_path / "casd"
    casd.mkdir()
    for a, b in PAIRS:
        strip(dataset, a, b, read(single / generated_name(a, b)), 7, 7).save(casd / f"{a}___{b}_vis.png")
    expected = run(tmp_path, dataset, single, metrics=("test-l1",))[0].record.metrics["test-l1"].value
    ev, _ = run(tmp_path, dataset, casd, metrics=("test-l1",), pattern="{from}___{to}_vis.png", panel="7/7")
    assert ev.record.metrics["test-l1"].value == expected and ev.record.get("generated")["panel"] == "7/7"
    # by hand: panel 4 is the target itself, so its L1 to the target is 0
    ev, _ = run(tmp_path, dataset, casd, metrics=("test-l1",), pattern="{from}___{to}_vis.png", panel="4/7")
    assert ev.record.metrics["test-l1"].value == 0.0



def test_cli_pattern_and_panel_as_patn(tmp_path, dataset, l1_metric, capsys):
    single = write_generated(tmp_path / "single", dataset, source_side=True)
    patn = tmp_path / "patn"
    patn.mkdir()
    for a, b in PAIRS:
        strip(dataset, a, b, read(single / generated_name(a, b)), 5, 5).save(patn / f"{a}___{b}_vis.png")
    out = tmp_path / "cli" / "r.json"
    code, _, _ = run_cli(["evaluate", str(patn), "--dataset", str(dataset), "--out", str(out), "--metrics", "test-l1",
                          "--pattern", "{from}___{to}_vis.png", "--panel", "5/5"], capsys)
    assert code == 0
    by_patn, _ = run(tmp_path, dataset, patn, metrics=("test-l1",), format="patn")
    assert json.loads(out.read_text())["metrics"]["test-l1"]["value"] == by_patn.record.metrics["test-l1"].value


@pytest.mark.parametrize("options, message", [
    ({"pattern": "{from}_{too}.png"}, "unknown field(s) 'too'"),
    ({"pattern": "{from_stem}_vis.png"}, "must name both images of a pair"),
    ({"pattern": "sub/{from}_{to}.png"}, "a file name in the generated folder, not a path"),
    ({"pattern": "{from}_{to:>9}.png"}, "with a format spec"),
    ({"pattern": "{from}_{to.png"}, "expected '}' before end of string"),
    ({"pattern": "{from}___{to}_vis.png", "panel": "6/5"}, "expected i/n with 1 <= i <= n"),
    ({"pattern": "{from}___{to}_vis.png", "panel": "0/5"}, "expected i/n with 1 <= i <= n"),
    ({"pattern": "{from}___{to}_vis.png", "panel": "last"}, "expected i/n with 1 <= i <= n"),
    ({"panel": "5/5"}, "give --pattern too"),
    ({"pattern": "{from}___{to}_vis.png", "format": "gfla"}, "drop --format gfla"),
])
def test_bad_patterns_and_panels_write_nothing(tmp_path, dataset, l1_metric, options, message):
    generated = write_generated(tmp_path / "gen", dataset, source_side=True)
    with pytest.raises(BenchError) as err:
        run(tmp_path, dataset, generated, metrics=("test-l1",), **options)
    assert message in str(err.value) and "\n" not in str(err.value)
    assert not (tmp_path / "out").exists()


def test_strip_of_the_wrong_width_names_the_file(tmp_path, dataset, l1_metric):
    folder = tmp_path / "five"
    folder.mkdir()
    for a, b in PAIRS:
        strip(dataset, a, b, read(dataset / "test" / a), 5, 5).save(folder / f"{a}___{b}_vis.png")
    with pytest.raises(DataError, match=r"_vis.png: composite is 320x128 \(WxH\), expected 7x64=448x128"):
        run(tmp_path, dataset, folder, metrics=("test-l1",), pattern="{from}___{to}_vis.png", panel="7/7")
    assert not (tmp_path / "out").exists()


def test_no_file_matches_shows_the_expected_name(tmp_path, dataset, l1_metric):
    generated = write_generated(tmp_path / "gen", dataset, source_side=True)
    a, b = PAIRS[0]
    with pytest.raises(DataError, match=f"expected names like {a}_2_{b}_vis.jpg"):
        run(tmp_path, dataset, generated, metrics=("test-l1",), pattern="{from}_2_{to}_vis.jpg")


def test_two_pairs_under_one_name_and_panel_parsing():
    with pytest.raises(BenchError, match="same file name 'a_b.png' to the pairs a.jpg -> b.jpg and a.png -> b.png"):
        check_distinct([("a.jpg", "b.jpg"), ("a.png", "b.png")], "{from_stem}_{to_stem}.png")
    assert parse_panel(None) == (1, 1) and parse_panel("5/5") == (5, 5) and parse_panel("2/7") == (2, 7)
