"""The store and the app through Flask's test client: one row per answer, refusals, resume, WAL, config hash."""
from __future__ import annotations

import json
import re
import sqlite3

import pytest

from bench.errors import BenchError
from bench.userstudy.app import create_app
from bench.userstudy.plan import PREFERENCE, REALNESS, image_token, make_plan
from bench.userstudy.pool import open_study
from bench.userstudy.store import StudyMismatchError, open_store

TOKENS = re.compile(r'name="image" value="([0-9a-f]+)"')


@pytest.fixture
def served(make_config, tmp_path):
    study = open_study(make_config())
    store = open_store(tmp_path / "study.sqlite", study)
    return study, store, create_app(study, store).test_client()


def start(client) -> str:
    reply = client.post("/start")
    assert reply.status_code == 303
    return reply.headers["Location"].rsplit("/", 1)[1]


def answer(client, pid, trial, image, value="real", ms="512.5"):
    return client.post(f"/p/{pid}/answer", data={"trial": trial, "image": image, "answer": value, "client_ms": ms})


def test_answers_are_stored_one_row_each_with_what_was_shown(served):
    study, store, client = served
    pid = start(client)
    plan = make_plan(study, pid)
    page = client.get(f"/p/{pid}").get_data(as_text=True)
    token = TOKENS.findall(page)[0]
    assert token == image_token(study.hash, pid, 0, 0)
    assert plan[0].images[0].name not in page and "patn" not in page and "gfla" not in page  # nothing gives it away
    image = client.get(f"/img/{pid}/{token}")
    assert image.status_code == 200 and image.data[:8] == b"\x89PNG\r\n\x1a\n"
    assert answer(client, pid, 0, token, "fake").status_code == 303
    [row] = store.answers()
    assert (row.participant, row.trial, row.protocol, row.method, row.truth, row.scored, row.answer, row.client_ms) == (
        pid, 0, REALNESS, plan[0].method, plan[0].truth, False, "fake", 512.5)
    [shown] = store.shown(pid, 0)
    assert shown["token"] == token and shown["name"] == plan[0].images[0].name and len(shown["sha256"]) == 64
    assert store.journal_mode() == "wal"


def test_answers_for_images_not_shown_are_refused(served):
    study, store, client = served
    pid, other = start(client), start(client)
    client.get(f"/p/{pid}")
    client.get(f"/p/{other}")
    mine = image_token(study.hash, pid, 0, 0)
    assert answer(client, pid, 1, image_token(study.hash, pid, 1, 0)).status_code == 409  # trial 1 not shown yet
    assert answer(client, pid, 0, image_token(study.hash, other, 0, 0)).status_code == 409  # someone else's image
    assert answer(client, pid, 0, "0" * 20).status_code == 409
    assert answer(client, pid, 0, mine, "maybe").status_code == 400
    assert client.get(f"/img/{pid}/{image_token(study.hash, pid, 1, 0)}").status_code == 404  # not served yet
    assert client.post("/p/nobody/answer", data={"trial": 0}).status_code == 404
    assert store.answers() == []
    assert answer(client, pid, 0, mine).status_code == 303
    assert answer(client, pid, 0, mine).status_code == 409  # twice
    assert len(store.answers()) == 1


def test_preference_answer_must_be_one_of_the_results(served):
    study, store, client = served
    pid = start(client)
    plan = make_plan(study, pid)
    for t in plan:
        page = client.get(f"/p/{pid}").get_data(as_text=True)
        tokens = TOKENS.findall(page)
        if t.protocol == REALNESS:
            assert answer(client, pid, t.index, tokens[0]).status_code == 303
            continue
        source = image_token(study.hash, pid, t.index, 0)
        assert answer(client, pid, t.index, source, "pick").status_code == 409  # the source is no result
        assert tokens == [image_token(study.hash, pid, t.index, s) for s in (2, 3)]
        assert answer(client, pid, t.index, tokens[1], "pick").status_code == 303
        assert store.answers()[-1].answer == t.results[1].method
    assert "Thank you" in client.get(f"/p/{pid}").get_data(as_text=True)
    assert sum(a.protocol == PREFERENCE for a in store.answers()) == 3


def test_resume_continues_where_the_participant_stopped(served, make_config, tmp_path):
    study, store, client = served
    pid = start(client)
    for trial in range(3):
        client.get(f"/p/{pid}")
        answer(client, pid, trial, image_token(study.hash, pid, trial, 0))
    # a new app process on the same database: the fourth trial comes next
    again = create_app(open_study(make_config()), open_store(tmp_path / "study.sqlite", study)).test_client()
    assert again.get(f"/resume?id={pid}").headers["Location"].endswith(f"/p/{pid}")
    assert image_token(study.hash, pid, 3, 0) in again.get(f"/p/{pid}").get_data(as_text=True)
    assert again.get("/resume?id=pzzz").status_code == 404


def test_database_of_another_config_is_refused(make_config, tmp_path):
    open_store(tmp_path / "s.sqlite", open_study(make_config()))
    with pytest.raises(StudyMismatchError, match=r"s.sqlite: database from another study config \(its study hash [0-9a-f]{12}"):
        open_store(tmp_path / "s.sqlite", open_study(make_config(groups=2)))
    (tmp_path / "junk.sqlite").write_bytes(b"not a database at all, just bytes" * 10)
    with pytest.raises(BenchError, match="junk.sqlite: not a study database"):
        open_store(tmp_path / "junk.sqlite", open_study(make_config()))


def test_each_answer_is_committed_before_the_reply(served):
    study, store, client = served
    pid = start(client)
    client.get(f"/p/{pid}")
    answer(client, pid, 0, image_token(study.hash, pid, 0, 0))
    # another connection (another process would be the same) sees the row at once
    with sqlite3.connect(store.path) as db:
        assert db.execute("SELECT count(*) FROM answers").fetchone()[0] == 1
        meta = dict(db.execute("SELECT key, value FROM meta"))
    assert meta["study_hash"] == study.hash and json.loads(meta["config"])["groups"] == 3
