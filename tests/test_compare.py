"""`bench compare`: the paired bootstrap against known answers, pair matching, lookup, outputs, CLI.

Result files are written with ``bench.evaluate``'s own CSV writer and record fields,
so a change of the evaluate format breaks these tests rather than `bench compare`.
"""
from __future__ import annotations

import json
import sys

import numpy as np
import pytest
import scipy.stats
from typer.testing import CliRunner

from bench.cli import app, main
from bench.compare import (ModelResult, align, compare, find_result, paired_bootstrap, read_per_pair, resolve,
                           to_json, to_latex, to_markdown)
from bench.errors import BenchError, DataError
from bench.evaluate import per_pair_csv, per_pair_path
from bench.metrics.base import MetricResult

Z95 = scipy.stats.norm.ppf(0.975)


# ----------------------------------------------------------------------------- the bootstrap


def test_ci_covers_the_true_mean_at_the_nominal_rate_and_has_the_normal_width():
    mu, sd, n, reps = 0.003, 0.02, 100, 400
    data = np.random.default_rng(123).normal(mu, sd, (reps, n))
    intervals = [paired_bootstrap(d, n_boot=1000, seed=s)[0] for s, d in enumerate(data)]
    covered = np.mean([iv.low <= mu <= iv.high for iv in intervals])
    assert 0.91 <= covered <= 0.98  # nominal 0.95; binomial sd over 400 repeats is 0.011
    widths = np.array([iv.high - iv.low for iv in intervals])
    assert widths.mean() == pytest.approx(2 * Z95 * sd / np.sqrt(n), rel=0.05)
    assert [iv.mean for iv in intervals] == pytest.approx(data.mean(axis=1), abs=1e-15)


def test_width_matches_the_normal_interval_and_scipy_on_one_large_sample():
    d = np.random.default_rng(7).normal(-0.01, 0.05, 2000)
    interval = paired_bootstrap(d, n_boot=10000, seed=0)[0]
    half = Z95 * d.std() / np.sqrt(len(d))  # the bootstrap resamples the plug-in distribution
    assert (interval.high - interval.low) == pytest.approx(2 * half, rel=0.04)
    assert (interval.low + interval.high) / 2 == pytest.approx(d.mean(), abs=0.1 * half)
    ref = scipy.stats.bootstrap((d,), np.mean, n_resamples=10000, confidence_level=0.95, method="percentile",
                                random_state=np.random.default_rng(1)).confidence_interval
    assert interval.low == pytest.approx(ref.low, abs=0.05 * half) and interval.high == pytest.approx(ref.high, abs=0.05 * half)


def test_constant_difference_gives_a_zero_width_ci_at_the_constant():
    interval = paired_bootstrap(np.full(37, 0.003), n_boot=500, seed=3)[0]
    assert interval.mean == pytest.approx(0.003, abs=1e-15)
    assert interval.low == pytest.approx(0.003, abs=1e-15) and interval.high == pytest.approx(0.003, abs=1e-15)


def test_identical_models_give_exactly_zero():
    a = np.random.default_rng(0).uniform(0.3, 0.9, 50)
    assert paired_bootstrap(a - a, n_boot=300)[0] == paired_bootstrap(np.zeros(50), n_boot=300)[0]
    interval = paired_bootstrap(a - a, n_boot=300)[0]
    assert (interval.mean, interval.low, interval.high) == (0.0, 0.0, 0.0)


def test_columns_share_resamples_and_chunking_does_not_change_the_result():
    d = np.random.default_rng(1).normal(0, 1, 60)
    one = paired_bootstrap(np.stack([d, 2 * d + 1], axis=1), n_boot=700, seed=5)
    assert one[1].low == pytest.approx(2 * one[0].low + 1, abs=1e-12)  # same resamples: exact affine image
    assert one[1].high == pytest.approx(2 * one[0].high + 1, abs=1e-12)
    chunked = paired_bootstrap(np.stack([d, 2 * d + 1], axis=1), n_boot=700, seed=5, chunk_elements=60 * 9)
    assert [x for i in chunked for x in (i.low, i.high)] == pytest.approx([x for i in one for x in (i.low, i.high)], abs=1e-12)
    assert paired_bootstrap(d, n_boot=700, seed=6)[0] != one[0]


def test_bad_bootstrap_arguments():
    with pytest.raises(BenchError, match="--ci"):
        paired_bootstrap(np.zeros(3), ci=1.5)
    with pytest.raises(BenchError, match="--n-boot"):
        paired_bootstrap(np.zeros(3), n_boot=0)
    with pytest.raises(BenchError, match="at least one pair"):
        paired_bootstrap(np.zeros(0))


# ----------------------------------------------------------------------------- result files

PAIRS = [(f"{i:04d}_c1s1_000001_01.jpg", f"{i:04d}_c2s1_000002_01.jpg") for i in range(1, 41)]
DIRECTIONS = {"ssim": True, "lpips": False, "fid": False, "is": True}


def write_result(path, model, scores, set_level=(), pairs=PAIRS, dataset="market", protocol="paper", unavailable=()):
    """An evaluation record + per-pair CSV as ``bench evaluate`` writes them."""
    results = {name: MetricResult.from_scores(np.asarray(s, float)) for name, s in scores.items()}
    metrics = {name: {"value": r.value, "higher_is_better": DIRECTIONS[name], "per_pair": True, "reason": None,
                      "version": "1", "paper": "-", "details": {}} for name, r in results.items()}
    for name, value in dict(set_level).items():
        metrics[name] = {"value": value, "higher_is_better": DIRECTIONS[name], "per_pair": False, "reason": None,
                         "version": "1", "paper": "-", "details": {}}
    for name in unavailable:
        metrics[name] = {"value": None, "higher_is_better": DIRECTIONS[name], "per_pair": False,
                         "reason": "Inception weights not found", "version": "1", "paper": "-", "details": {}}
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {"record_version": 1, "model": model, "dataset": {"kind": dataset, "root": "/data/x"},
              "protocol": {"name": protocol}, "pairs": {"expected": len(pairs), "evaluated": len(pairs)},
              "metrics": metrics, "per_pair_csv": per_pair_path(path).name if results else None}
    if results:
        per_pair_path(path).write_text(per_pair_csv(list(pairs), results))
    path.write_text(json.dumps(record))
    return path


@pytest.fixture
def scores():
    rng = np.random.default_rng(0)
    base = rng.uniform(0.4, 0.9, len(PAIRS))
    lp = rng.uniform(0.1, 0.3, len(PAIRS))
    return base, lp


@pytest.fixture
def results_dir(tmp_path, scores):
    base, lp = scores
    root = tmp_path / "results" / "metrics"
    write_result(root / "patn" / "synth-market.json", "patn", {"ssim": base, "lpips": lp}, {"fid": 20.0})
    write_result(root / "pona" / "synth-market.json", "pona", {"ssim": base + 0.003, "lpips": lp}, {"fid": 18.5})
    write_result(root / "pona" / "synth-market-modern.json", "pona", {"ssim": base}, protocol="modern")
    return root


def test_paired_ci_detects_a_small_consistent_gain_that_unpaired_spread_would_hide():
    rng = np.random.default_rng(2)
    a = rng.uniform(0.4, 0.9, 500)  # between-pair spread 0.14, far above the 0.003 gain
    b = a + 0.003 + rng.normal(0, 0.002, 500)
    interval = paired_bootstrap(b - a, n_boot=4000)[0]
    assert interval.low > 0
    assert interval.high - interval.low == pytest.approx(2 * Z95 * 0.002 / np.sqrt(500), rel=0.15)


def test_dvc_layout_lookup_by_name_protocol_and_kind(results_dir):
    assert find_result(results_dir, "pona", "synth-market", "paper") == results_dir / "pona" / "synth-market.json"
    assert find_result(results_dir, "pona", "synth-market", "modern").name == "synth-market-modern.json"
    assert find_result(results_dir, "patn", "market", "paper").name == "synth-market.json"  # by the record's kind
    with pytest.raises(DataError, match="no results for model 'gfla'.*patn, pona"):
        find_result(results_dir, "gfla", "synth-market", "paper")
    with pytest.raises(DataError, match="no result for dataset 'deepfashion' under protocol 'paper'.*synth-market.json"):
        find_result(results_dir, "pona", "deepfashion", "paper")
    write_result(results_dir / "pona" / "real" / "market1501.json", "pona", {"ssim": np.zeros(len(PAIRS))})
    assert find_result(results_dir, "pona", "market1501", "paper").parent.name == "real"
    with pytest.raises(DataError, match="2 results match dataset 'market'.*LABEL=PATH"):
        find_result(results_dir, "pona", "market", "paper")  # two records of kind market


def test_resolve_accepts_paths_and_labels(results_dir):
    path = results_dir / "pona" / "synth-market.json"
    assert resolve(str(path), results_dir, None, "paper").label == "pona"
    assert resolve(f"pona-ckpt={path}", results_dir, None, "paper").label == "pona-ckpt"
    with pytest.raises(BenchError, match="--dataset is needed"):
        resolve("pona", results_dir, None, "paper")
    with pytest.raises(BenchError, match="must be a result .json"):
        resolve("a=b", results_dir, None, "paper")


def load(results_dir, *names, dataset="synth-market"):
    return [resolve(n, results_dir, dataset, "paper") for n in names]


def test_comparison_values_differences_cis_and_verdicts(results_dir):
    c = compare(load(results_dir, "patn", "pona"), "synth-market", n_boot=500)
    by = {m.name: m for m in c.metrics}
    ssim, lpips, fid = by["ssim"].differences[0], by["lpips"].differences[0], by["fid"].differences[0]
    assert ssim.value == pytest.approx(0.003, abs=1e-12)
    assert (ssim.interval.low, ssim.interval.high) == pytest.approx((0.003, 0.003), abs=1e-12)
    assert ssim.better == "pona" and ssim.verdict == "pona better"
    assert (lpips.interval.low, lpips.interval.high, lpips.better, lpips.verdict) == (0.0, 0.0, None, "CI includes 0")
    assert fid.interval is None and fid.value == -1.5 and fid.better == "pona" and fid.verdict == "pona better (no CI)"
    assert "set-level" in fid.reason and by["fid"].higher_is_better is False
    assert c.n_pairs == len(PAIRS)


def test_pairs_are_matched_by_name_not_by_row(tmp_path, scores):
    base, lp = scores
    order = np.random.default_rng(4).permutation(len(PAIRS))
    a = write_result(tmp_path / "a.json", "a", {"ssim": base})
    shuffled = write_result(tmp_path / "b.json", "b", {"ssim": (base + 0.01)[order]}, pairs=[PAIRS[i] for i in order])
    diff = compare([resolve(str(a), tmp_path, None, "paper"), resolve(str(shuffled), tmp_path, None, "paper")],
                   n_boot=200).metrics[0].differences[0]
    assert (diff.interval.low, diff.interval.high) == pytest.approx((0.01, 0.01), abs=1e-12)


def test_different_pair_sets_are_an_error_naming_counts_and_examples(tmp_path, scores):
    base, _ = scores
    a = write_result(tmp_path / "a.json", "a", {"ssim": base})
    b = write_result(tmp_path / "b.json", "b", {"ssim": base[:-2]}, pairs=PAIRS[:-2])
    models = [resolve(str(p), tmp_path, None, "paper") for p in (a, b)]
    with pytest.raises(BenchError) as err:
        compare(models)
    message = str(err.value)
    assert "40 pairs" in message and "vs 38" in message and "2 only in a" in message and "0 only in b" in message
    assert f"{PAIRS[-2][0]}->{PAIRS[-2][1]}" in message


def test_bad_per_pair_files_name_the_line(tmp_path, scores):
    a = write_result(tmp_path / "a.json", "a", {"ssim": scores[0]})
    csv_path = per_pair_path(a)
    lines = csv_path.read_text().splitlines()
    csv_path.write_text("\n".join([*lines, lines[3]]) + "\n")
    with pytest.raises(DataError, match=r"a.per-pair.csv:42: pair .* appears twice \(first on line 4\)"):
        read_per_pair(csv_path)
    csv_path.write_text("\n".join([lines[0], lines[1] + ",7", *lines[2:]]) + "\n")
    with pytest.raises(DataError, match=r":2: 4 fields, the header has 3"):
        read_per_pair(csv_path)
    csv_path.unlink()
    with pytest.raises(DataError, match="does not exist"):
        compare([resolve(str(a), tmp_path, None, "paper"), resolve(f"b={a}", tmp_path, None, "paper")])


def test_mixed_protocols_and_duplicate_labels_are_refused(results_dir):
    paper, modern = results_dir / "pona" / "synth-market.json", results_dir / "pona" / "synth-market-modern.json"
    with pytest.raises(BenchError, match="differ in protocol: paper vs modern"):
        compare([resolve(str(paper), results_dir, None, "paper"), resolve(f"m={modern}", results_dir, None, "paper")])
    with pytest.raises(BenchError, match="share a label"):
        compare([resolve(str(paper), results_dir, None, "paper")] * 2)


def test_align_maps_rows(tmp_path):
    base = ModelResult("a", tmp_path, {}, pairs=[("x", "y"), ("y", "x"), ("z", "x")])
    other = ModelResult("b", tmp_path, {}, pairs=[("z", "x"), ("x", "y"), ("y", "x")])
    assert align(base, other).tolist() == [1, 2, 0]


# ----------------------------------------------------------------------------- output formats


def test_markdown_table(results_dir):
    c = compare(load(results_dir, "patn", "pona"), n_boot=300)
    text = to_markdown(c)
    table = text.split("\n\n")[0].splitlines()
    assert table[0] == "| Metric | patn | pona | pona − patn | 95% CI | Verdict |"
    assert table[1] == "|:--|--:|--:|--:|--:|--:|"
    c_ssim = next(m for m in c.metrics if m.name == "ssim")
    v0, v1 = (f"{v:.3f}" for v in c_ssim.values)
    assert table[2] == f"| SSIM ↑ | {v0} | **{v1}** | +0.0030 | [+0.0030, +0.0030] | pona better |"
    lp = next(m for m in c.metrics if m.name == "lpips").values[0]
    assert table[3] == f"| LPIPS ↓ | **{lp:.4f}** | **{lp:.4f}** | +0.00000 | [+0.00000, +0.00000] | CI includes 0 |"
    assert table[4] == "| FID ↓ | 20.000 | **18.500** | -1.5000 | – | pona better (no CI) |"
    note = text.split("\n\n")[1]
    assert "paired percentile bootstrap" in note and "40 matched test pairs" in note and "300 resamples" in note
    assert "Set-level metrics (FID) are one number for the whole set" in note


def test_three_models_unavailable_metric_latex_and_json(results_dir, scores):
    base, lp = scores
    write_result(results_dir / "pg2_v1" / "synth-market.json", "pg2_v1", {"ssim": base - 0.05, "lpips": lp + 0.02},
                 unavailable=("fid",))
    c = compare(load(results_dir, "patn", "pona", "pg2_v1"), n_boot=300)
    md = to_markdown(c).splitlines()
    assert md[0].endswith("| pg2\\_v1 − patn | 95% CI | Verdict |") or md[0].endswith("| pg2_v1 − patn | 95% CI | Verdict |")
    assert md[4].startswith("| FID ↓ | 20.000 | **18.500** | n/a | -1.5000 | – | pona better (no CI) | n/a | – | n/a |")
    latex = to_latex(c)
    assert r"\toprule" in latex and r"SSIM $\uparrow$" in latex and r"pg2\_v1 - patn" in latex
    assert r"FID $\downarrow$" in latex and "↑" not in latex and "−" not in latex
    data = to_json(c)
    assert json.loads(json.dumps(data, allow_nan=False)) == data
    fid = data["metrics"]["fid"]
    assert fid["values"] == {"patn": 20.0, "pona": 18.5, "pg2_v1": None}
    assert fid["reasons"] == {"pg2_v1": "Inception weights not found"}
    ssim = data["metrics"]["ssim"]["differences"][1]
    assert ssim["model"] == "pg2_v1" and ssim["baseline"] == "patn" and ssim["better"] == "patn"
    assert ssim["ci"][0] == pytest.approx(-0.05, abs=1e-12) and ssim["difference"] == pytest.approx(-0.05)
    assert data["bootstrap"]["n_boot"] == 300 and data["bootstrap"]["pairs"] == 40 and "git_commit" in data["provenance"]


# ----------------------------------------------------------------------------- CLI


def test_cli_table_md_and_json(results_dir):
    runner = CliRunner()
    args = ["compare", "patn", "pona", "--dataset", "synth-market", "--results", str(results_dir), "--n-boot", "200"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "pona better" in result.stdout and "SSIM ↑" in result.stdout and "synth-market" in result.stdout
    md = runner.invoke(app, [*args, "--format", "md"])
    assert md.exit_code == 0 and md.stdout.startswith("| Metric | patn | pona | pona − patn | 95% CI | Verdict |")
    js = runner.invoke(app, [*args, "--format", "json", "--ci", "0.9", "--seed", "3"])
    data = json.loads(js.stdout)
    assert data["bootstrap"]["ci"] == 0.9 and data["bootstrap"]["seed"] == 3 and data["dataset"] == "synth-market"
    assert runner.invoke(app, [*args, "--format", "latex"]).stdout.startswith(r"\begin{tabular}")


def test_cli_errors_exit_1(results_dir, monkeypatch, capsys):
    for extra, message in ((["gfla"], "no results for model 'gfla'"), (["pona", "--format", "xml"], "unknown --format 'xml'")):
        argv = ["bench", "compare", "patn", *extra, "--dataset", "synth-market", "--results", str(results_dir)]
        monkeypatch.setattr(sys, "argv", argv)
        with pytest.raises(SystemExit) as exit_info:
            main()
        assert exit_info.value.code == 1
        assert message in capsys.readouterr().err


# ----------------------------------------------------------------------------- end to end with `bench evaluate`


def test_compare_reads_what_bench_evaluate_writes(tmp_path, monkeypatch):
    from PIL import Image

    from bench.data.annotations import write_annotations, write_pairs
    from bench.evaluate import EvalConfig, evaluate, generated_name
    from bench.cards import MetricSpec
    from bench.registry import METRICS, Entry

    def l1(inputs, protocol):
        diff = np.abs(inputs.generated.astype(np.float64) - inputs.targets.astype(np.float64))
        return MetricResult.from_scores(diff.mean(axis=(1, 2, 3)) / 255)

    METRICS.names()  # lazy registration first, then a test-only per-pair metric
    monkeypatch.setitem(METRICS._entries, "test-l1", Entry("test-l1", l1, MetricSpec(label="L1", higher_is_better=False, decimals=3, paper="test", version="1", per_pair=True)))
    rng = np.random.default_rng(0)
    root, names = tmp_path / "market", [f"000{i}_c1s1_00000{i}_01.jpg" for i in range(1, 5)]
    (root / "test").mkdir(parents=True)
    images = {n: rng.integers(0, 256, (128, 64, 3), dtype=np.uint8) for n in names}
    for n, image in images.items():
        Image.fromarray(image).save(root / "test" / n, format="PNG")  # lossless: hand-checkable L1
    keypoints = np.full((18, 2), -1)
    keypoints[:14] = 20
    write_annotations(root / "market-annotation-test.csv", {n: keypoints for n in names})
    pairs = [(names[0], names[1]), (names[1], names[2]), (names[2], names[3]), (names[3], names[0])]
    write_pairs(root / "pairs-test.csv", pairs)
    results = tmp_path / "results" / "metrics"
    for model, side in (("copy-target", 1), ("copy-source", 0)):
        folder = tmp_path / model
        folder.mkdir()
        for pair in pairs:
            Image.fromarray(images[pair[side]]).save(folder / generated_name(*pair))
        evaluate(EvalConfig(folder, root, results / model / "market.json", metrics=("test-l1",), progress=False))
    c = compare(load(results, "copy-target", "copy-source", dataset="market"), n_boot=2000)
    d = c.metrics[0].differences[0]
    by_hand = [np.abs(images[a].astype(float) - images[b]).mean() / 255 for a, b in pairs]
    assert d.value == pytest.approx(np.mean(by_hand), rel=1e-12)
    assert min(by_hand) - 1e-12 <= d.interval.low < d.interval.high <= max(by_hand) + 1e-12
    assert d.verdict == "copy-target better" and c.n_pairs == 4
