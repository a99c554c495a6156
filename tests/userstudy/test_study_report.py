"""Table 2 from the answers: numbers against hand counts, the published values beside them, the pilot label."""
from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from bench.errors import BenchError
from bench.userstudy.pilot import run_pilot
from bench.userstudy.pool import open_study
from bench.userstudy.report import measure_cells, render_record, write_report
from bench.userstudy.stats import wilson
from bench.userstudy.store import Answer, open_store

PUBLISHED = Path(__file__).resolve().parents[2] / "results" / "published.csv"


def a(pid, trial, protocol, method, truth, scored, value):
    return Answer(pid, trial, "synth-market", protocol, method, truth, scored, value, "t", None, 0.0)


def test_cells_by_hand(make_config):
    study = open_study(make_config())
    answers = [
        # participant x: patn generated 2 scored (1 said real), 1 warm-up (said real, not counted); real 1 (real)
        a("x", 0, "realness", "patn", "generated", False, "real"),
        a("x", 1, "realness", "patn", "generated", True, "real"),
        a("x", 2, "realness", "patn", "generated", True, "fake"),
        a("x", 3, "realness", "patn", "real", True, "real"),
        a("x", 9, "preference", "gfla", None, True, "gfla"),
        # participant y: patn generated 1 scored (real); real 1 (fake); gfla generated 1 (fake)
        a("y", 1, "realness", "patn", "generated", True, "real"),
        a("y", 2, "realness", "patn", "real", True, "fake"),
        a("y", 3, "realness", "gfla", "generated", True, "fake"),
        a("y", 9, "preference", "patn", None, True, "patn"),
        a("y", 10, "preference", "gfla", None, True, "gfla"),
    ]
    cells = {(c.method, c.measure): c for c in measure_cells(study, answers)}
    g2r = cells["patn", "g2r"]
    assert (g2r.hits, g2r.n, g2r.participants) == (2, 3, 2) and g2r.value == pytest.approx(200 / 3)
    assert g2r.wilson == pytest.approx((100 * wilson(2, 3).low, 100 * wilson(2, 3).high))
    assert (cells["patn", "r2g"].hits, cells["patn", "r2g"].n) == (1, 2)
    assert (cells["gfla", "g2r"].hits, cells["gfla", "g2r"].n) == (0, 1)
    assert (cells["gfla", "r2g"].n, cells["patn", "prefer"].hits, cells["patn", "prefer"].n) == (0, 1, 3)
    assert cells["gfla", "prefer"].value == pytest.approx(200 / 3)
    # bootstrap over x (1 of 2) and y (1 of 1): pooled G2R of any resample is 1/2, 2/3 or 1
    assert set(cells["patn", "g2r"].bootstrap) <= {50.0, 200 / 3, 100.0}


def test_pilot_report_equals_the_database(make_config, tmp_path):
    if not PUBLISHED.exists():
        pytest.skip(f"{PUBLISHED} not found")
    study = open_study(make_config())
    store = open_store(tmp_path / "s.sqlite", study)
    with pytest.raises(BenchError, match="no answers yet"):
        write_report(study, store, tmp_path / "t.md", published_csv=PUBLISHED)
    run_pilot(study, store, participants=3, seed=5, progress=False)
    js, md = write_report(study, store, tmp_path / "t.md", tmp_path / "t.json", PUBLISHED)
    record = json.loads(js.read_text())
    with sqlite3.connect(store.path) as db:  # counted here with SQL, independently of the report's Python
        g2r = dict(((m), (h, n)) for m, h, n in db.execute(
            "SELECT method, sum(answer = 'real'), count(*) FROM answers WHERE protocol = 'realness' AND scored = 1 "
            "AND truth = 'generated' GROUP BY method"))
        picks = dict(db.execute("SELECT answer, count(*) FROM answers WHERE protocol = 'preference' GROUP BY answer"))
        groups = db.execute("SELECT count(*) FROM answers WHERE protocol = 'preference'").fetchone()[0]
        total = db.execute("SELECT count(*) FROM answers").fetchone()[0]
    assert total == 3 * (2 * 8 + 3) == record["answers"]
    cells = {(c["method"], c["measure"]): c for c in record["cells"]}
    for method in ("patn", "gfla"):
        assert (cells[method, "g2r"]["hits"], cells[method, "g2r"]["n"]) == g2r[method]
        # 4 real + 4 generated per block, the first 2 a warm-up: 6 scored per block and robot
        assert cells[method, "g2r"]["n"] + cells[method, "r2g"]["n"] == 3 * (8 - 2)
        assert (cells[method, "prefer"]["hits"], cells[method, "prefer"]["n"]) == (picks.get(method, 0), groups)
    text = md.read_text()
    assert "SCRIPTED PILOT — NOT HUMAN DATA" in text and "3 of the 3 participants are scripted" in text
    # Tang et al. Table 2 (results/published.csv): PATN Market G2R 38.03, Prefer 14.00; DIST (gfla) 47.37, 23.11
    patn = next(line for line in text.splitlines() if line.startswith("| PATN (`patn`) |"))
    c = cells["patn", "g2r"]
    assert f"{c['value']:.2f} [{c['wilson'][0]:.1f}, {c['wilson'][1]:.1f}] (38.03)" in patn and "(14.00)" in patn
    assert "| DIST (`gfla`) |" in text and "(47.37)" in text and "not studied (50.00)" in text  # Ours (partflow) not studied
    assert "NOT the published protocol" in text
    # the pipeline's report stage re-renders the same table from the record alone
    again = render_record(js, PUBLISHED, tmp_path / "again.md")
    assert again.read_text() == text
