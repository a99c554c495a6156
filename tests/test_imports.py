"""Layering: reading results needs no torch, and the CLI starts without loading models."""
from __future__ import annotations

import subprocess
import sys


def _modules_after(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", f"import sys\n{code}\nprint(' '.join(sys.modules))"],
                         capture_output=True, text=True, check=True).stdout
    return set(out.split())


def test_leaderboard_and_its_directions_import_no_torch():
    loaded = _modules_after("import bench.leaderboard as lb\nassert lb.higher_is_better('fid') is False\n"
                            "assert lb.implemented('patn') and lb.metric_decimals('lpips', None) == 4")
    assert "torch" not in loaded
    assert not any(m == "baselines" or m.startswith(("baselines.", "bench.metrics.ssim")) for m in loaded)


def test_report_and_compare_import_no_torch():
    assert "torch" not in _modules_after("import bench.report, bench.compare, bench.results")


def test_one_model_lookup_imports_only_its_module():
    loaded = _modules_after("from bench.registry import MODELS\nMODELS.get('pg2')")
    assert "baselines.pg2" in loaded and "baselines.gfla" not in loaded and "baselines.pona" not in loaded
