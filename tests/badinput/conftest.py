from __future__ import annotations

from pathlib import Path

import pytest

from bench.data.synth import synthesize
from badinput_cli import run

SYNTH = {"identities_train": 3, "identities_test": 2, "progress": False}


@pytest.fixture(scope="package")
def world(tmp_path_factory) -> dict[str, Path]:
    """A tiny synthetic Market set with prepared pairs, source-copy images (reference row, no training)
    and their evaluation record: the inputs every case breaks one thing of. Read-only for the cases."""
    root = tmp_path_factory.mktemp("bad")
    data = root / "synth-market"
    synthesize("synth-market", data, seed=0, **SYNTH)
    prepared = root / "prepared"
    assert run(["data", "prepare", "--dataset", str(data), "--out", str(prepared), "--images-for-test", "6"])[0] == 0
    generated = root / "generated"
    assert run(["generate", "source-copy", "--dataset", str(data), "--pairs-dir", str(prepared), "--out", str(generated),
                "--quiet"])[0] == 0
    record = root / "records" / "source-copy.json"
    assert run(["evaluate", str(generated), "--dataset", str(data), "--pairs-dir", str(prepared), "--metrics", "ssim,psnr",
                "--out", str(record)])[0] == 0
    log = root / "train_log.csv"  # the shape `bench train` logs: step, then loss terms
    log.write_text("step,G_l1,D_gan\n1,2.0,1.0\n2,1.5,0.9\n")
    return {"root": root, "data": data, "prepared": prepared, "generated": generated, "record": record, "log": log}
