"""A scripted participant takes both protocols in a real headless browser (Debian's chromium + chromium-driver).

Selenium is given the Debian binaries explicitly, so it never looks for or downloads a browser
of its own. The test asserts the database holds exactly the answers the participant clicked and
that the report's numbers are those answers. Screenshots of every screen go to
``$BENCH_STUDY_SCREENSHOTS`` (docs/study/ for the README) or the test's temporary folder.
"""
from __future__ import annotations

import os
import shutil
import sqlite3
import threading
from pathlib import Path

import pytest

from bench.userstudy.app import create_app
from bench.userstudy.plan import PREFERENCE, REALNESS, make_plan
from bench.userstudy.pool import open_study
from bench.userstudy.report import measure_cells
from bench.userstudy.store import open_store

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
SHOW_MS = 1000  # the published protocol's 1 s

pytestmark = pytest.mark.skipif(
    CHROMIUM is None or CHROMEDRIVER is None,
    reason="headless browser test needs Debian's chromium and chromium-driver "
           "(apt-get install -y chromium chromium-driver; .ci/run installs them)")


@pytest.fixture
def server(make_config, tmp_path):
    from werkzeug.serving import make_server

    study = open_study(make_config(real=2, generated=2, warmup=1, groups=2, show_ms=SHOW_MS))
    store = open_store(tmp_path / "study.sqlite", study)
    http = make_server("127.0.0.1", 0, create_app(study, store), threaded=True)
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    yield study, store, f"http://127.0.0.1:{http.port}"
    http.shutdown()
    thread.join(10)


@pytest.fixture
def browser():
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1200,900",
                 "--no-first-run", "--disable-extensions", "--disable-background-networking"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def test_scripted_participant_in_headless_chromium(server, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    study, store, url = server
    shots = Path(os.environ.get("BENCH_STUDY_SCREENSHOTS") or tmp_path / "screens")
    shots.mkdir(parents=True, exist_ok=True)
    wait = WebDriverWait(browser, 20, poll_frequency=0.05)
    taken: set[str] = set()

    def shot(name: str, still=lambda: True) -> None:
        """A screenshot of this screen, the first time it is seen (and, with ``still``, still in that state after)."""
        if name not in taken:
            browser.save_screenshot(str(shots / f"{name}.png"))
            if still():
                taken.add(name)

    browser.get(url + "/")
    shot("1-welcome")
    browser.find_element(By.ID, "start").click()
    pid = wait.until(EC.presence_of_element_located((By.ID, "pid"))).text
    plan = make_plan(study, pid)
    clicked: dict[int, str] = {}  # trial -> "real"/"fake" or the token of the picked result
    for t in plan:
        if t.index == 3:  # leave and come back with the id, as a participant resuming would
            browser.get(url + "/")
            wait.until(EC.presence_of_element_located((By.ID, "resume-id"))).send_keys(pid)
            wait.until(EC.element_to_be_clickable((By.ID, "resume"))).click()
        if t.protocol == REALNESS:
            image = wait.until(EC.presence_of_element_located((By.ID, "stimulus")))
            wait.until(lambda d: d.execute_script("return arguments[0].complete && arguments[0].naturalWidth > 0", image))
            if image.is_displayed():
                shot("2-realness-shown", still=image.is_displayed)
            wait.until(EC.visibility_of_element_located((By.ID, "hidden-note")))  # hidden after SHOW_MS
            assert not image.is_displayed()
            shot("3-realness-hidden")
            clicked[t.index] = "real" if t.index % 3 else "fake"
            wait.until(EC.element_to_be_clickable((By.ID, f"answer-{clicked[t.index]}"))).click()
            wait.until(EC.staleness_of(image))
        else:
            choices = wait.until(EC.presence_of_all_elements_located((By.CSS_SELECTOR, "button.choice")))
            assert len(choices) == 2
            wait.until(lambda d: d.execute_script(
                "return [...document.images].every(i => i.complete && i.naturalWidth > 0)"))
            shot("4-preference")
            pick = choices[t.position % 2]
            clicked[t.index] = pick.get_attribute("value")
            pick.click()
            wait.until(EC.staleness_of(pick))
    wait.until(EC.presence_of_element_located((By.ID, "done")))
    shot("5-done")
    assert taken == {"1-welcome", "2-realness-shown", "3-realness-hidden", "4-preference", "5-done"}

    # The database holds exactly these answers.
    with sqlite3.connect(store.path) as db:
        rows = db.execute("SELECT trial, protocol, answer, image, client_ms FROM answers WHERE participant = ? "
                          "ORDER BY trial", (pid,)).fetchall()
        assert db.execute("SELECT count(*) FROM answers").fetchone()[0] == len(plan) == 10
    token_method = {s["token"]: s["method"] for t in plan for s in store.shown(pid, t.index)}
    expected = []
    for t in plan:
        if t.protocol == REALNESS:
            expected.append((t.index, REALNESS, clicked[t.index]))
        else:
            expected.append((t.index, PREFERENCE, token_method[clicked[t.index]]))
    assert [r[:3] for r in rows] == expected
    assert all(r[4] >= SHOW_MS for r in rows if r[1] == REALNESS)  # answered after the image was hidden
    assert {r[3] for r in rows if r[1] == PREFERENCE} == {clicked[t.index] for t in plan if t.protocol == PREFERENCE}

    # The report's numbers are these answers, counted here from the plan and the clicks.
    cells = {(c.method, c.measure): c for c in measure_cells(study, store.answers())}
    for method in ("patn", "gfla"):
        block = [t for t in plan if t.protocol == REALNESS and t.method == method and t.scored]
        for measure, truth in (("g2r", "generated"), ("r2g", "real")):
            shown = [t for t in block if t.truth == truth]
            hits = sum(clicked[t.index] == "real" for t in shown)
            assert (cells[method, measure].hits, cells[method, measure].n) == (hits, len(shown))
        picked = sum(token_method[clicked[t.index]] == method for t in plan if t.protocol == PREFERENCE)
        assert (cells[method, "prefer"].hits, cells[method, "prefer"].n) == (picked, 2)
