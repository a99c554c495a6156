"""Bad inputs and careless outputs, through the real command line (issue 11's corpus).

Every case runs ``bench ...`` as a user would and asserts the promised contract
(README, "Every command prints a clear ``error: <file>:<line>: ...``"): exit
status 1, exactly one ``error:`` line on stderr naming what is wrong, no
traceback, and nothing written or replaced. The expected messages are the
project's own; each case says which input it breaks.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bench.io import OUTPUT_MARKER
from badinput_cli import evaluate_argv, refused, run, tree_digest


# ------------------------------------------------------------------------------ outputs that would replace data


def test_evaluate_out_on_an_existing_folder_is_refused_and_the_folder_kept(world, tmp_path):
    results = tmp_path / "res"
    results.mkdir()
    (results / "mine.txt").write_text("keep me")
    refused(evaluate_argv(world, results), "must end in .json")
    named = tmp_path / "res.json"
    named.mkdir()
    (named / "mine.txt").write_text("keep me")
    refused(evaluate_argv(world, named), "is a folder; give a file path")
    assert (results / "mine.txt").read_text() == "keep me" and (named / "mine.txt").read_text() == "keep me"


def test_generate_out_on_a_dataset_folder_is_refused_and_the_dataset_kept(world, tmp_path):
    real = tmp_path / "market"  # a real dataset: bench never wrote it, so it has no marker
    shutil.copytree(world["data"], real)
    (real / OUTPUT_MARKER).unlink()
    for data, message in ((real, "was not written by bench"), (world["data"], "holds a synthetic dataset, not generated images")):
        before = tree_digest(data)
        refused(["generate", "source-copy", "--dataset", str(data), "--pairs-dir", str(world["prepared"]),
                 "--out", str(data), "--quiet"], message)
        assert tree_digest(data) == before


def test_generate_may_replace_its_own_earlier_output(world, tmp_path):
    out = tmp_path / "gen"
    for _ in range(2):  # DVC re-runs and users re-run: the second write replaces the first
        code, err = run(["generate", "source-copy", "--dataset", str(world["data"]), "--pairs-dir", str(world["prepared"]),
                         "--out", str(out), "--quiet"])
        assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in world["generated"].iterdir())


def test_data_show_out_on_a_folder_is_refused(world, tmp_path):
    folder = tmp_path / "sheet.png"
    folder.mkdir()
    refused(["data", "show", str(world["data"]), "--pairs-dir", str(world["prepared"]), "--out", str(folder)],
            "is a folder; give a file path")


def test_out_whose_parent_is_a_file_is_refused(world, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    refused(evaluate_argv(world, blocker / "r.json"), "is a file, not a folder")
    refused(["data", "show", str(world["data"]), "--pairs-dir", str(world["prepared"]), "--out", str(blocker / "s.png")],
            "is a file, not a folder")
    assert blocker.read_text() == "x"


def test_interrupted_atomic_write_leaves_no_temporaries_after_the_next_run(world, tmp_path):
    out = tmp_path / "synth"
    stale = tmp_path / f".{out.name}.abcd1234.tmp"
    (stale / out.name).mkdir(parents=True)  # what a kill -9 during `bench data synth` leaves
    code, err = run(["data", "synth", "synth-market", "--out", str(out), "--identities-train", "2", "--identities-test", "2"])
    assert code == 0, err
    assert not stale.exists() and [p.name for p in tmp_path.iterdir()] == [out.name]


# ------------------------------------------------------------------------------ inputs that gave wrong numbers


def copy_prepared(world, tmp_path: Path) -> Path:
    prepared = tmp_path / "prepared"
    shutil.copytree(world["prepared"], prepared)
    return prepared


def test_a_pair_listed_twice_is_refused_naming_both_lines(world, tmp_path):
    prepared = copy_prepared(world, tmp_path)
    lines = (prepared / "pairs-test.csv").read_text().splitlines()
    (prepared / "pairs-test.csv").write_text("\n".join([*lines, lines[1]]) + "\n")
    refused(evaluate_argv(world, tmp_path / "r.json", pairs=prepared), f"pairs-test.csv:{len(lines) + 1}: pair ")
    assert not (tmp_path / "r.json").exists()


@pytest.mark.parametrize("value,message", [("-1", "model.width must be a positive number"),
                                           ("wide", "model.width must be a positive number")])
def test_bad_model_width_is_refused(world, tmp_path, value, message):
    refused(["train", "pg2", "--dataset", str(world["data"]), "--pairs-dir", str(world["prepared"]), "--iterations", "1",
             "--set", f"model.width={value}", "--out", str(tmp_path / "run"), "--quiet"], message)
    assert not (tmp_path / "run").exists()


def test_cuda_without_cuda_is_refused_by_train_generate_and_evaluate(world, tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    refused(["train", "pg2", "--dataset", str(world["data"]), "--pairs-dir", str(world["prepared"]), "--iterations", "1",
             "--device", "cuda", "--out", str(tmp_path / "run"), "--quiet"], "CUDA is not available")
    refused(["generate", "source-copy", "--dataset", str(world["data"]), "--pairs-dir", str(world["prepared"]),
             "--device", "cuda", "--out", str(tmp_path / "gen"), "--quiet"], "CUDA is not available")
    refused(evaluate_argv(world, tmp_path / "r.json", "--device", "cuda"), "CUDA is not available")
    refused(["train", "pg2", "--dataset", str(world["data"]), "--pairs-dir", str(world["prepared"]), "--iterations", "1",
             "--device", "gpu", "--out", str(tmp_path / "run"), "--quiet"], "device 'gpu': expected auto, cpu, cuda or cuda:N")
    refused(evaluate_argv(world, tmp_path / "r.json", "--device", "gpu"), "device 'gpu': expected auto, cpu, cuda or cuda:N")
    assert not any(tmp_path.iterdir())


def test_a_key_given_twice_in_params_is_refused(world, tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text("profiles:\n  cpu:\n    pg2:\n      iterations: 1\n      iterations: 2\n")
    refused(["train", "pg2", "--dataset", str(world["data"]), "--pairs-dir", str(world["prepared"]), "--params", str(params),
             "--out", str(tmp_path / "run"), "--quiet"], "params.yaml:5: key 'iterations' is given twice (first on line 4)")


def test_sixteen_bit_png_scores_like_its_eight_bit_original(world, tmp_path):
    """A 16-bit grey PNG of an 8-bit picture (v * 257) must score exactly as the 8-bit PNG of the same picture;
    Pillow's convert('RGB') clipped it to white."""
    eight, sixteen = tmp_path / "g8", tmp_path / "g16"
    eight.mkdir(), sixteen.mkdir()
    for path in world["generated"].glob("*.png"):
        grey = np.asarray(Image.open(path).convert("L"))
        Image.fromarray(grey).save(eight / path.name)
        Image.fromarray(grey.astype(np.uint16) * 257).save(sixteen / path.name)
    assert Image.open(next(sixteen.glob("*.png"))).mode == "I;16"
    codes = [run(evaluate_argv(world, tmp_path / f"{g.name}.json", generated=g))[0] for g in (eight, sixteen)]
    assert codes == [0, 0]
    eight_csv = (tmp_path / "g8.per-pair.csv").read_text()
    assert (tmp_path / "g16.per-pair.csv").read_text() == eight_csv


# ------------------------------------------------------------------------------ vague errors made clear


def test_header_only_training_pairs_are_refused(world, tmp_path):
    prepared = copy_prepared(world, tmp_path)
    (prepared / "pairs-train.csv").write_text("from,to\n")
    refused(["train", "pg2", "--dataset", str(world["data"]), "--pairs-dir", str(prepared), "--iterations", "1",
             "--out", str(tmp_path / "run"), "--quiet"], "pairs-train.csv: holds no training pairs")


def broken_dataset(world, tmp_path: Path, edit) -> Path:
    data = tmp_path / "data"
    shutil.copytree(world["data"], data)
    annotation = data / "market-annotation-test.csv"
    annotation.write_bytes(edit(annotation.read_bytes()))
    return data


@pytest.mark.parametrize("edit,message", [
    (lambda b: b"\xef\xbb\xbf" + b, "market-annotation-test.csv:1: starts with a UTF-8 byte-order mark"),
    (lambda b: b.replace(b"\n", b"\n\xff", 2).replace(b"\n\xff", b"\n", 1), "market-annotation-test.csv:3: byte 0xff is not UTF-8"),
])
def test_annotation_encoding_errors_name_file_and_line(world, tmp_path, edit, message):
    data = broken_dataset(world, tmp_path, edit)
    argv = evaluate_argv(world, tmp_path / "r.json")
    argv[argv.index("--dataset") + 1] = str(data)
    refused(argv, message)


def test_resuming_another_model_says_the_model_differs(world, tmp_path):
    run_dir = tmp_path / "run"
    base = ["--dataset", str(world["data"]), "--pairs-dir", str(world["prepared"]), "--iterations", "1", "--out", str(run_dir),
            "--quiet", "--set", "batch_size=1"]
    code, err = run(["train", "pona-b1", *base])
    assert code == 0, err
    refused(["train", "pona-b2", *base, "--resume"], "cannot resume: the checkpoint holds a run of model 'pona-b1', not 'pona-b2'")
