"""Every command's --out given something bench did not write (issue 11, data loss): refused in one line,
the victim byte-for-byte unchanged, nothing else written beside it; re-running onto the command's own
earlier output still works (DVC and users re-run).

The guard is bench.io's: folders carry a ``.bench-output`` marker of their kind, files are replaced
only if recognisably that kind of bench output (a result record, a scores file, a per-pair CSV, a
signed PNG/JPEG/PDF, a pose-estimator or imported checkpoint), and `bench data prepare` replaces
only the files its manifest lists, unchanged.
"""
from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from badinput_cli import evaluate_argv, refused, run, tree_digest

FOREIGN = "exists and is not {} written by bench; refusing to replace it"
NOT_BENCH = "exists and was not written by bench (no .bench-output)"


def user_json(path: Path) -> Path:
    path.write_text('{"mine": 1}\n')
    return path


def user_png(path: Path) -> Path:
    Image.new("RGB", (8, 8), (10, 20, 30)).save(path)  # a picture of the user's, not signed by bench
    return path


def user_pdf(path: Path) -> Path:
    path.write_bytes(b"%PDF-1.4\n% the user's own document\n%%EOF\n")
    return path


def user_checkpoint(path: Path) -> Path:
    torch.save({"weights": torch.zeros(2)}, path)  # a torch file, but not one of bench's formats
    return path


def user_folder(path: Path) -> Path:
    path.mkdir()
    (path / "notes.txt").write_text("keep me")
    return path


def dataset_copy(world, path: Path) -> Path:
    shutil.copytree(world["data"], path)  # a synthetic dataset: marked, but of another kind
    return path


def show(world, out: Path) -> list[str]:
    return ["data", "show", str(world["data"]), "--pairs-dir", str(world["prepared"]), "--out", str(out)]


def figure(world, out: Path) -> list[str]:
    return ["figure", "--dataset", str(world["data"]), "--pairs-dir", str(world["prepared"]),
            "--generated", f"m={world['generated']}", "--out", str(out)]


def train(world, out: Path, *extra: str) -> list[str]:
    return ["train", "pona-b1", "--dataset", str(world["data"]), "--pairs-dir", str(world["prepared"]), "--iterations", "1",
            "--set", "batch_size=1", "--out", str(out), "--quiet", *extra]


def generate(world, out: Path) -> list[str]:
    return ["generate", "source-copy", "--dataset", str(world["data"]), "--pairs-dir", str(world["prepared"]),
            "--out", str(out), "--quiet"]


def pose(world, out: Path) -> list[str]:
    return ["pose", "train", "--dataset", str(world["data"]), "--out", str(out), "--steps", "1", "--batch-size", "2",
            "--width", "4", "--no-augment", "--threads", "1"]


def prepare(world, out: Path) -> list[str]:
    return ["data", "prepare", "--dataset", str(world["data"]), "--out", str(out), "--images-for-test", "6"]


def plant_beside(suffix: str, make):
    """A victim next to the record: the per-pair CSV or the scores file that ``--out r.json`` would write."""
    def plant(path: Path) -> Path:
        return make(path.with_name(f"r{suffix}"))
    return plant


# (case id, victim maker(path), argv(world, out), the message; the victim is at tmp_path / name)
CASES = [
    ("evaluate-user-json", "mine.json", user_json, lambda w, o: evaluate_argv(w, o), FOREIGN.format("a result record")),
    ("evaluate-dataset-info-json", "synth.json", "synth.json", lambda w, o: evaluate_argv(w, o), FOREIGN.format("a result record")),
    ("evaluate-user-per-pair-csv", "r.per-pair.csv", lambda p: (p.write_text("a,b\n1,2\n"), p)[1],
     lambda w, o: evaluate_argv(w, o.with_name("r.json")), FOREIGN.format("a per-pair scores file")),
    ("evaluate-user-scores-json", "r.scores.json", lambda p: (p.write_text('{"note": "mine"}\n'), p)[1],
     lambda w, o: evaluate_argv(w, o.with_name("r.json")), FOREIGN.format("a scores file")),
    ("evaluate-folder", "res.json", user_folder, lambda w, o: evaluate_argv(w, o), "is a folder; give a file path"),
    ("show-user-png", "sheet.png", user_png, show, FOREIGN.format("an image or figure")),
    ("show-user-jpg", "sheet.jpg", lambda p: (Image.new("RGB", (8, 8)).save(p), p)[1], show, FOREIGN.format("an image or figure")),
    ("show-folder", "sheet.png", user_folder, show, "is a folder; give a file path"),
    ("figure-user-png", "fig.png", user_png, figure, FOREIGN.format("an image or figure")),
    ("figure-user-pdf", "fig.pdf", user_pdf, figure, FOREIGN.format("an image or figure")),
    ("plot-curves-user-png", "curves.png", user_png, lambda w, o: ["plot", "curves", str(w["log"]), "--out", str(o)],
     FOREIGN.format("an image or figure")),
    ("pose-user-checkpoint", "pose.pt", user_checkpoint, pose, FOREIGN.format("a pose-estimator checkpoint")),
    ("pose-user-text", "notes.txt", lambda p: (p.write_text("keep me"), p)[1], pose, FOREIGN.format("a pose-estimator checkpoint")),
    ("import-user-checkpoint", "ours.pt", user_checkpoint,
     lambda w, o: ["import", "pona", str(o.with_name("absent-original.pth")), "--dataset", "market", "--out", str(o)],
     FOREIGN.format("an imported generator checkpoint")),
    ("train-user-folder", "run", user_folder, train, NOT_BENCH),
    ("train-dataset-folder", "run", "dataset", train, "holds a synthetic dataset, not a training run"),
    ("train-file", "run", lambda p: (p.write_text("x"), p)[1], train, "is a file; this output is a folder"),
    ("generate-user-folder", "gen", user_folder, generate, NOT_BENCH),
    ("generate-dataset-folder", "gen", "dataset", generate, "holds a synthetic dataset, not generated images"),
    ("generate-file", "gen", lambda p: (p.write_text("x"), p)[1], generate, "is a file; this output is a folder"),
    ("synth-user-folder", "data", user_folder, lambda w, o: ["data", "synth", "synth-market", "--out", str(o)],
     "is not a synthetic dataset written by `bench data synth`"),
    ("prepare-user-pairs", "prep", lambda p: (p.mkdir(), (p / "pairs-test.csv").write_text("from,to\na.jpg,b.jpg\n"), p)[2],
     prepare, "pairs-test.csv: exists and was not written by `bench data prepare`"),
    ("prepare-file", "prep", lambda p: (p.write_text("x"), p)[1], prepare, "exists and is not a folder"),
    ("reid-evaluate-user-json", "reid.json", user_json,
     lambda w, o: ["reid", "evaluate", str(o.with_name("no-run")), "--dataset", str(w["data"]), "--generator", "none",
                   "--p", "0.2", "--out", str(o)], FOREIGN.format("a result record")),
]


@pytest.mark.parametrize("name,make,argv,message", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_out_on_something_bench_did_not_write_is_refused_and_kept(world, tmp_path, name, make, argv, message):
    victim = tmp_path / name
    if make == "dataset":
        dataset_copy(world, victim)
    elif make == "synth.json":  # the info file of a synthetic dataset: bench's JSON, but not a record
        shutil.copy(world["data"] / "synth.json", victim)
    else:
        make(victim)
    before = tree_digest(victim)
    listing = sorted(p.name for p in tmp_path.iterdir())
    refused(argv(world, victim), message)
    assert tree_digest(victim) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == listing  # nothing written beside it either


@pytest.mark.parametrize("argv,name", [
    (lambda w, o: evaluate_argv(w, o), "r.json"),
    (show, "sheet.png"),
    (show, "sheet.jpg"),
    (figure, "fig.pdf"),
    (lambda w, o: ["plot", "curves", str(w["log"]), "--out", str(o)], "curves.png"),
    (pose, "pose.pt"),
    (generate, "gen"),
    (prepare, "prep"),
], ids=["evaluate", "show-png", "show-jpg", "figure-pdf", "plot-curves", "pose", "generate", "prepare"])
def test_a_command_may_replace_its_own_earlier_output(world, tmp_path, argv, name):
    for _ in range(2):
        code, err = run(argv(world, tmp_path / name))
        assert code == 0, err
    assert (tmp_path / name).exists()


def test_train_reruns_into_its_own_run_folder_and_accepts_a_run_folder_from_before_markers(world, tmp_path):
    out = tmp_path / "run"
    code, err = run(train(world, out))
    assert code == 0, err
    assert (out / ".bench-output").read_text().startswith("a training run")
    (out / ".bench-output").unlink()  # a run folder written before markers existed
    code, err = run(train(world, out, "--iterations", "2", "--resume"))
    assert code == 0, err
    assert json.loads((out / "meta.json").read_text())["status"] == "finished"


def test_a_pose_checkpoint_never_replaces_a_training_checkpoint(world, tmp_path):
    out = tmp_path / "run"
    assert run(train(world, out))[0] == 0
    before = tree_digest(out / "model.pt")
    refused(pose(world, out / "model.pt"), FOREIGN.format("a pose-estimator checkpoint"))
    assert tree_digest(out / "model.pt") == before


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc is Linux's")
@pytest.mark.parametrize("argv,name,message", [
    (lambda w, o: evaluate_argv(w, o), "r.json", "/proc/r.per-pair.csv: cannot write in the folder /proc"),
    (show, "sheet.png", "/proc/sheet.png: cannot write in the folder /proc"),
    (generate, "gen", "/proc/gen: cannot write in the folder /proc"),
    (train, "run", "/proc/run: cannot write this folder"),
], ids=["evaluate", "show", "generate", "train"])
def test_an_unwritable_output_folder_is_one_line(world, argv, name, message):
    """/proc refuses new entries even to root (CI runs as root, where chmod 555 would not stop a write)."""
    refused(argv(world, Path("/proc") / name), message)


@pytest.mark.parametrize("argv,name", [(train, "run"), (generate, "gen"), (pose, "p.pt"), (show, "s.png"),
                                       (lambda w, o: evaluate_argv(w, o), "r.json")],
                         ids=["train", "generate", "pose", "show", "evaluate"])
def test_an_output_under_a_file_is_one_line(world, tmp_path, argv, name):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    refused(argv(world, blocker / "sub" / name), "is a file, not a folder")
    assert blocker.read_text() == "x"


def test_images_and_figures_bench_writes_are_signed(world, tmp_path):
    """What lets a re-run replace them: PNG text chunk / JPEG comment / PDF creator hold the signature."""
    from bench.io import SIGNATURE

    assert run(show(world, tmp_path / "s.png"))[0] == 0 and run(show(world, tmp_path / "s.jpg"))[0] == 0
    assert run(figure(world, tmp_path / "f.pdf"))[0] == 0
    assert Image.open(tmp_path / "s.png").info["Software"] == SIGNATURE
    assert Image.open(tmp_path / "s.jpg").info["comment"] == SIGNATURE.encode()
    assert SIGNATURE.encode() in (tmp_path / "f.pdf").read_bytes()
    assert np.asarray(Image.open(tmp_path / "s.png")).shape[2] == 3
