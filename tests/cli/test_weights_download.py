"""`bench weights download` against a local HTTP server, and refusal of files that are not the published weights.

The server is the standard library's ``http.server`` on 127.0.0.1 with a handler
that can also cut a transfer short. The "published" file of each case is the
test's own small file, taken as such through ``trust_weights``; production code
checks size and full sha256 against ``bench.weights.WEIGHTS``.
"""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from bench import weights
from cli_helpers import FileHandler, file_server
from cli_helpers import run_cli as run

INCEPTION = weights.WEIGHTS["inception-fidelity"].filename
GOOD = b"published weights " * 4096


@pytest.fixture
def server():
    with file_server() as url:
        yield url


@pytest.fixture
def published(tmp_path, trust_weights):
    reference = tmp_path / "reference" / INCEPTION
    reference.parent.mkdir()
    reference.write_bytes(GOOD)
    trust_weights("inception-fidelity", reference)
    return reference


def download(server, dest, capsys):
    return run(["weights", "download", "inception-fidelity", "--mirror", server, "--to", str(dest), "--quiet"], capsys)


def test_good_file_is_downloaded_verified_and_kept(server, published, tmp_path, capsys):
    FileHandler.files[INCEPTION] = GOOD
    dest = tmp_path / "cache"
    code, out, err = download(server, dest, capsys)
    assert code == 0, err
    assert out.strip() == str(dest / INCEPTION) and (dest / INCEPTION).read_bytes() == GOOD
    assert [p.name for p in dest.iterdir()] == [INCEPTION]  # no temporary left
    FileHandler.files.clear()  # a second run finds the verified file and does not download
    assert download(server, dest, capsys)[0] == 0


@pytest.mark.parametrize("case,message", [
    ("wrong-hash", "the downloaded file has sha256"),
    ("truncated", "the downloaded file has 24,576 bytes, not the published 73,728"),
    ("missing", "HTTP 404"),
])
def test_a_bad_transfer_writes_nothing(server, published, tmp_path, capsys, case, message):
    if case == "wrong-hash":
        FileHandler.files[INCEPTION] = GOOD[::-1]  # same size, other bytes
    elif case == "truncated":
        FileHandler.files[INCEPTION] = GOOD
        FileHandler.truncate.add(INCEPTION)
    dest = tmp_path / "cache"
    code, _, err = download(server, dest, capsys)
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert code == 1 and len(lines) == 1 and message in lines[0], err
    assert "Traceback" not in err
    assert not dest.exists() or not any(dest.iterdir())


def test_offline_fails_fast_with_one_line(published, tmp_path, capsys):
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code, _, err = download(f"http://127.0.0.1:{port}", tmp_path / "cache", capsys)
    assert code == 1 and "cannot download" in err and "offline?" in err and "Traceback" not in err


class Payload:
    """Unpickling this object opens (creates) ``sentinel``: the side effect of a malicious weights file."""

    def __init__(self, sentinel: Path):
        self.sentinel = sentinel

    def __reduce__(self):
        return (open, (str(self.sentinel), "w"))


def malicious(path: Path, sentinel: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"features.0.weight": Payload(sentinel)}, path)
    return path


def test_the_payload_runs_when_loaded_unchecked(tmp_path):
    """Control: the crafted file really executes code under weights_only=False (what torch-fidelity uses)."""
    sentinel = tmp_path / "pwned"
    torch.load(malicious(tmp_path / "x.pth", sentinel), weights_only=False)
    assert sentinel.exists()


@pytest.mark.parametrize("where", ["weights-dir", "env", "hub"])
@pytest.mark.parametrize("name", ["inception-fidelity", "alexnet", "vgg19"])
def test_a_malicious_file_under_a_weights_name_is_refused_unopened(tmp_path, monkeypatch, where, name):
    monkeypatch.setattr(torch.hub, "_hub_dir", torch.hub._hub_dir)
    torch.hub.set_dir(str(tmp_path / "hub"))
    monkeypatch.delenv("BENCH_WEIGHTS_DIR", raising=False)
    folder = {"weights-dir": tmp_path / "w", "env": tmp_path / "env", "hub": tmp_path / "hub" / "checkpoints"}[where]
    if where == "env":
        monkeypatch.setenv("BENCH_WEIGHTS_DIR", str(folder))
    sentinel = tmp_path / "pwned"
    path = malicious(folder / weights.WEIGHTS[name].filename, sentinel)
    with pytest.raises(weights.WeightsRefused, match=f"{path}: .*refusing to load it"):
        weights.require(name, tmp_path / "w" if where == "weights-dir" else None)
    assert not sentinel.exists()


def test_evaluate_refuses_a_malicious_inception_file_in_one_line(tmp_path, capsys):
    """Through the command a user runs: IS (10 splits: 12 test pairs) with a tampered Inception file never
    reaches torch-fidelity."""
    from bench.data.synth import synthesize

    data = tmp_path / "data"
    synthesize("synth-market", data, seed=0, identities_train=2, identities_test=2, progress=False)
    assert run(["data", "prepare", "--dataset", str(data), "--out", str(tmp_path / "p"), "--images-for-test", "12"], capsys)[0] == 0
    assert run(["generate", "source-copy", "--dataset", str(data), "--pairs-dir", str(tmp_path / "p"),
                "--out", str(tmp_path / "g"), "--quiet"], capsys)[0] == 0
    sentinel = tmp_path / "pwned"
    malicious(tmp_path / "w" / INCEPTION, sentinel)
    code, _, err = run(["evaluate", str(tmp_path / "g"), "--dataset", str(data), "--pairs-dir", str(tmp_path / "p"),
                        "--metrics", "is", "--weights-dir", str(tmp_path / "w"), "--out", str(tmp_path / "r.json")], capsys)
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert code == 1 and len(lines) == 1 and "refusing to load it" in lines[0] and "Traceback" not in err
    assert not sentinel.exists() and not (tmp_path / "r.json").exists()
