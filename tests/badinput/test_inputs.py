"""More of issue 11's bad inputs through the CLI: encodings of every text input, the constant-image
convention end to end (evaluate -> record -> per-pair CSV -> compare), 48-bit PNGs, resuming with other
model options, a truncated training image, and the leftovers of a killed write."""
from __future__ import annotations

import csv
import json
import shutil
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from badinput_cli import evaluate_argv, refused, run, tree_digest


def copy_prepared(world, tmp_path: Path) -> Path:
    prepared = tmp_path / "prepared"
    shutil.copytree(world["prepared"], prepared)
    return prepared


@pytest.mark.parametrize("edit,message", [
    (lambda b: b"\xef\xbb\xbf" + b, "pairs-test.csv:1: starts with a UTF-8 byte-order mark"),
    (lambda b: b.replace(b"\n", b"\n\xe9", 2).replace(b"\n\xe9", b"\n", 1), "pairs-test.csv:3: byte 0xe9 is not UTF-8"),
])
def test_pairs_file_encoding_errors_name_file_and_line(world, tmp_path, edit, message):
    prepared = copy_prepared(world, tmp_path)
    (prepared / "pairs-test.csv").write_bytes(edit((prepared / "pairs-test.csv").read_bytes()))
    refused(evaluate_argv(world, tmp_path / "r.json", pairs=prepared), message)
    assert not (tmp_path / "r.json").exists()


def train_argv(world, out: Path, *extra: str) -> list[str]:
    return ["train", "pona-b1", "--dataset", str(world["data"]), "--pairs-dir", str(world["prepared"]), "--iterations", "1",
            "--set", "batch_size=1", "--out", str(out), "--quiet", *extra]


def test_params_file_that_is_not_utf8_names_the_line(world, tmp_path):
    params = tmp_path / "params.yaml"
    params.write_bytes(b"profiles:\n  cpu:\n    pona*:\n      iterations: 1 # \xff\n")
    refused(train_argv(world, tmp_path / "run", "--params", str(params)), "params.yaml:4: byte 0xff is not UTF-8")


def test_device_gpu_in_the_params_file_is_refused_naming_it(world, tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text("profiles:\n  cpu:\n    defaults:\n      device: gpu\n    pona*:\n      market: {}\n")
    refused(train_argv(world, tmp_path / "run", "--params", str(params)), "device 'gpu': expected auto, cpu, cuda or cuda:N")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("value", ["0", "nan", "inf", "-0.5"])
def test_more_bad_model_widths(world, tmp_path, value):
    refused(train_argv(world, tmp_path / "run", "--set", f"model.width={value}"), "model.width must be a positive number")
    assert not (tmp_path / "run").exists()


def test_compare_names_the_line_of_a_record_that_is_not_utf8(world, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_bytes(world["record"].read_bytes().replace(b'"model"', b'"mod\xffel"', 1))
    refused(["compare", f"a={world['record']}", f"b={bad}", "--n-boot", "10"], "bad.json:3: byte 0xff is not UTF-8")


def test_compare_refuses_a_per_pair_csv_that_is_not_the_records_own(world, tmp_path):
    """The three evaluate outputs are one set: the record, written last, holds its companions' sha256."""
    folder = tmp_path / "copy"
    shutil.copytree(world["record"].parent, folder)
    per_pair = folder / "source-copy.per-pair.csv"
    per_pair.write_text(per_pair.read_text().replace(",0.", ",0.1", 1))
    refused(["compare", f"a={world['record']}", f"b={folder / 'source-copy.json'}", "--n-boot", "10"],
            "is not the per-pair file source-copy.json was written with (sha256 differs)")


# ------------------------------------------------------------------------------ the constant-image convention


def edited_generated(world, tmp_path: Path, edit) -> Path:
    folder = tmp_path / "generated"
    shutil.copytree(world["generated"], folder)
    (folder / ".bench-output").unlink()
    names = sorted(p.name for p in folder.glob("*.png"))
    edit(folder, names)
    return folder


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_one_constant_generated_image_is_left_out_counted_and_compared(world, tmp_path):
    """SSIM of a constant image is 0/0 (data_range 0 in the authors' compare_ssim call): the authors' np.mean
    would report nan for the whole set. The project leaves the pair out of SSIM's mean, counts and names it,
    writes an empty cell, and compare scores SSIM over the pairs both records have."""
    def flat(folder, names):
        Image.fromarray(np.full((128, 64, 3), 120, np.uint8)).save(folder / names[0])

    generated = edited_generated(world, tmp_path, flat)
    out = tmp_path / "r.json"
    code, err = run(evaluate_argv(world, out, generated=generated))
    assert code == 0, err
    record = json.loads(out.read_text())
    excluded = record["metrics"]["ssim"]["details"]["excluded_pairs"]
    a, b = sorted(p.name for p in generated.glob("*.png"))[0][:-4].split("___")
    assert excluded["count"] == 1 and excluded["authors_script_value"] == "nan"
    assert excluded["pairs"] == [f"{a} -> {b} (nan)"]
    assert "excluded_pairs" not in record["metrics"]["psnr"]["details"]  # PSNR of a constant image is finite
    rows = {(r["from"], r["to"]): r for r in read_csv(tmp_path / "r.per-pair.csv")}
    assert rows[(a, b)]["ssim"] == "" and float(rows[(a, b)]["psnr"]) > 0
    others = [float(r["ssim"]) for k, r in rows.items() if k != (a, b)]
    assert record["metrics"]["ssim"]["value"] == pytest.approx(np.mean(others), abs=1e-12)
    code, err = run(["compare", f"base={world['record']}", f"flat={out}", "--n-boot", "50"])
    assert code == 0, err


def test_an_image_identical_to_its_target_is_left_out_of_psnr(world, tmp_path):
    def identical(folder, names):
        a, b = names[0][:-4].split("___")
        Image.open(world["data"] / "test" / b).save(folder / names[0])  # PSNR of an image with itself: +inf

    out = tmp_path / "r.json"
    code, err = run(evaluate_argv(world, out, generated=edited_generated(world, tmp_path, identical)))
    assert code == 0, err
    psnr = json.loads(out.read_text())["metrics"]["psnr"]
    assert psnr["details"]["excluded_pairs"]["count"] == 1 and psnr["details"]["excluded_pairs"]["authors_script_value"] == "inf"
    assert np.isfinite(psnr["value"])


def test_an_all_constant_folder_gives_no_ssim_no_nan_and_compare_accepts_it(world, tmp_path):
    def all_flat(folder, names):
        for name in names:
            Image.fromarray(np.full((128, 64, 3), 7, np.uint8)).save(folder / name)

    out = tmp_path / "r.json"
    code, err = run(evaluate_argv(world, out, generated=edited_generated(world, tmp_path, all_flat)))
    assert code == 0, err
    ssim = json.loads(out.read_text())["metrics"]["ssim"]
    assert ssim["value"] is None and "constant" in ssim["reason"] and ssim["details"]["excluded_pairs"]["count"] == 6
    text = (tmp_path / "r.per-pair.csv").read_text()
    assert "nan" not in text.lower() and "inf" not in text.lower()
    assert all(r["ssim"] == "" for r in read_csv(tmp_path / "r.per-pair.csv"))
    code, err = run(["compare", f"base={world['record']}", f"flat={out}", "--n-boot", "50"])
    assert code == 0, err


# ------------------------------------------------------------------------------ 16-bit colour


def write_png48(path: Path, rgb16: np.ndarray) -> None:
    """A 16-bit-per-channel RGB PNG written by hand (Pillow cannot write one): IHDR depth 16, colour type 2."""
    h, w, _ = rgb16.shape
    raw = b"".join(b"\x00" + rgb16[y].astype(">u2").tobytes() for y in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def test_48_bit_png_scores_like_its_8_bit_original(world, tmp_path):
    """Colour 16-bit PNGs of 8-bit pictures (v * 257) score exactly as the 8-bit PNGs: read, not refused,
    because a lossless 16-bit export is a legitimate generated image and v * 257 >> 8 == v exactly."""
    sixteen = tmp_path / "g48"
    sixteen.mkdir()
    for path in world["generated"].glob("*.png"):
        write_png48(sixteen / path.name, np.asarray(Image.open(path).convert("RGB")).astype(np.uint16) * 257)
    code, err = run(evaluate_argv(world, tmp_path / "g48.json", generated=sixteen))
    assert code == 0, err
    ours = read_csv(tmp_path / "g48.per-pair.csv")
    original = read_csv(world["record"].with_name("source-copy.per-pair.csv"))
    assert ours == original


# ------------------------------------------------------------------------------ training


def test_resuming_with_other_model_options_names_only_the_options_that_differ(world, tmp_path):
    out = tmp_path / "run"
    assert run(train_argv(world, out, "--set", "model.width=0.05"))[0] == 0
    refused(train_argv(world, out, "--set", "model.width=0.1", "--iterations", "2", "--resume"),
            "cannot resume: the checkpoint holds a run of model options {'width': 0.05}, not {'width': 0.1}")


def test_a_truncated_training_image_is_one_line_and_the_run_says_failed(world, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(world["data"], data)
    victim = sorted((data / "train").iterdir())[0]
    victim.write_bytes(victim.read_bytes()[:300])
    out = tmp_path / "run"
    argv = train_argv(world, out, "--set", "batch_size=16")
    argv[argv.index("--dataset") + 1] = str(data)
    refused(argv, f"{victim.name}: cannot decode image")
    meta = json.loads((out / "meta.json").read_text())
    assert meta["status"] == "failed" and victim.name in meta["error"]
    assert not (out / "model.pt").exists()


def test_a_killed_checkpoint_write_leaves_nothing_after_the_next_run(world, tmp_path):
    out = tmp_path / "run"
    assert run(train_argv(world, out))[0] == 0
    stale = out / ".checkpoint.pt.abcd1234.tmp"
    stale.mkdir()
    (stale / "checkpoint.pt").write_bytes(b"half")
    before = tree_digest(out / "model.pt")
    assert run(train_argv(world, out, "--iterations", "2", "--resume"))[0] == 0
    assert not stale.exists() and tree_digest(out / "model.pt") != before
