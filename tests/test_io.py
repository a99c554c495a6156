from __future__ import annotations

import json

import pytest

from bench.io import atomic_path, atomic_write_json, provenance


def test_atomic_file_written_only_on_success(tmp_path):
    target = tmp_path / "out" / "result.json"
    atomic_write_json(target, {"ssim": 0.5})
    assert json.loads(target.read_text()) == {"ssim": 0.5}
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("interrupted")
    assert json.loads(target.read_text()) == {"ssim": 0.5}
    assert sorted(p.name for p in target.parent.iterdir()) == ["result.json"]  # no temp left behind


def test_atomic_directory_replaced_whole(tmp_path):
    target = tmp_path / "images"
    for content in ("first", "second"):
        with atomic_path(target) as tmp:
            tmp.mkdir()
            (tmp / "a.txt").write_text(content)
    assert (target / "a.txt").read_text() == "second"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["images"]


def test_nan_refused_and_provenance_fields():
    with pytest.raises(ValueError):
        atomic_write_json("/nonexistent-never-written.json", {"x": float("nan")})
    record = provenance(seed=3)
    assert record["seed"] == 3 and record["versions"]["torch"].startswith("2.13")
    assert "timestamp" in record and "git_commit" in record
