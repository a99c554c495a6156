"""Scripted pilot participants: robots that take the study through the app's own pages and forms.

Each robot is a participant of kind 'scripted' in the database; it reads each trial page
(Flask's test client, no network), and answers at random: "real" with probability
``p_real`` on a realness trial, a uniformly random result on a preference trial. The
expected G2R and R2G are therefore ``p_real`` and the expected Prefer 1 / (methods): a pilot
checks the app, the store and the report, never the methods.
"""
from __future__ import annotations

import random
import re
import sys

from bench.errors import BenchError
from bench.userstudy.plan import participant_seed
from bench.userstudy.pool import Study
from bench.userstudy.store import StudyStore

_TRIAL = re.compile(r'name="trial" value="(\d+)"')
_IMAGE = re.compile(r'name="image" value="([0-9a-f]+)"')


def run_robot(client, store: StudyStore, pid: str, rng: random.Random, p_real: float = 0.5) -> tuple[str, int]:
    """One scripted participant from first page to last; returns (id, answers given)."""
    pid = store.new_participant("scripted", pid)
    given = 0
    while True:
        page = client.get(f"/p/{pid}")
        if page.status_code != 200:
            raise BenchError(f"pilot: /p/{pid} answered {page.status_code}")
        html = page.get_data(as_text=True)
        if 'id="done"' in html:
            return pid, given
        trial, tokens = _TRIAL.search(html).group(1), _IMAGE.findall(html)
        if 'id="answer-real"' in html:
            form = {"trial": trial, "image": tokens[0], "answer": "real" if rng.random() < p_real else "fake"}
        else:
            form = {"trial": trial, "image": rng.choice(tokens), "answer": "pick"}
        reply = client.post(f"/p/{pid}/answer", data=form)
        if reply.status_code != 303:
            raise BenchError(f"pilot: answer to trial {trial} of {pid} refused ({reply.status_code})")
        given += 1


def run_pilot(study: Study, store: StudyStore, participants: int, seed: int = 0, p_real: float = 0.5,
              progress: bool = True) -> list[str]:
    from bench.userstudy.app import create_app

    client = create_app(study, store).test_client()
    ids = []
    for i in range(participants):
        pid = f"robot{seed}-{i:03d}"
        pid, given = run_robot(client, store, pid, random.Random(participant_seed(seed, pid)), p_real)
        ids.append(pid)
        if progress:
            print(f"pilot: robot {i + 1}/{participants} ({pid}) gave {given} answers", file=sys.stderr)
    return ids
