"""The study's SQLite database: one file, WAL journal, one committed transaction per answer.

Tables: ``meta`` (schema version, study hash, the config as JSON), ``participants`` (anonymous
random ids; ``kind`` is 'web' for the app's, 'scripted' for :mod:`bench.userstudy.pilot`'s
robots), ``shown`` (each trial when first served: the exact images, with their SHA-256) and
``answers`` (the answer, the browser's reaction time, server times). A database made for
another study (config or image pools) is refused. ``synchronous=FULL``: a commit is on disk
before the answer is acknowledged, so a crash of the app or the machine loses no answer (the
scripted pilot may ask for NORMAL: see :func:`open_store`).
"""
from __future__ import annotations

import json
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.errors import BenchError

SCHEMA_VERSION = 1
SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE participants (id TEXT PRIMARY KEY, kind TEXT NOT NULL, created_at REAL NOT NULL);
CREATE TABLE shown (
  participant TEXT NOT NULL REFERENCES participants(id), trial INTEGER NOT NULL,
  served_at REAL NOT NULL, images TEXT NOT NULL,
  PRIMARY KEY (participant, trial));
CREATE TABLE answers (
  participant TEXT NOT NULL REFERENCES participants(id), trial INTEGER NOT NULL,
  dataset TEXT NOT NULL, protocol TEXT NOT NULL, method TEXT, truth TEXT, scored INTEGER NOT NULL,
  answer TEXT NOT NULL, image TEXT NOT NULL, client_ms REAL, answered_at REAL NOT NULL,
  PRIMARY KEY (participant, trial),
  FOREIGN KEY (participant, trial) REFERENCES shown(participant, trial));
"""


class StudyMismatchError(BenchError):
    """The database belongs to another study config."""


class AnswerRefused(BenchError):
    """An answer the participant may not give (an image not shown to them, twice, unknown id)."""


@dataclass(frozen=True)
class Answer:
    participant: str
    trial: int
    dataset: str
    protocol: str
    method: str | None  # realness: the block's method; preference: the method picked
    truth: str | None  # realness: real | generated
    scored: bool
    answer: str  # realness: real | fake; preference: the picked method
    image: str  # token of the image answered about (realness) or picked (preference)
    client_ms: float | None
    answered_at: float


class StudyStore:
    def __init__(self, path: str | Path, study_hash: str, config_json: str, synchronous: str = "FULL"):
        self.path = Path(path)
        self.study_hash = study_hash
        if synchronous not in ("FULL", "NORMAL"):
            raise BenchError(f"synchronous must be FULL or NORMAL, got {synchronous!r}")
        self.synchronous = synchronous
        self._db: sqlite3.Connection | None = None
        self._lock = threading.RLock()
        new = not self.path.exists() or self.path.stat().st_size == 0
        if new:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            if new:
                db.executescript(SCHEMA)
                db.executemany("INSERT INTO meta VALUES (?, ?)", [
                    ("schema_version", str(SCHEMA_VERSION)), ("study_hash", study_hash), ("config", config_json),
                    ("created_at", repr(time.time()))])
                db.commit()
            else:
                self._check(db, config_json)

    def _check(self, db: sqlite3.Connection, config_json: str) -> None:
        try:
            meta = dict(db.execute("SELECT key, value FROM meta"))
        except sqlite3.DatabaseError as err:
            raise StudyMismatchError(f"{self.path}: not a study database ({err})") from None
        if meta.get("study_hash") != self.study_hash:
            raise StudyMismatchError(
                f"{self.path}: database from another study config (its study hash {meta.get('study_hash', '?')[:12]}, "
                f"this config's {self.study_hash[:12]}); give the config it was made with, or a new --db")

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        # One connection for the store's life, shared by the app's request threads under a lock:
        # closing the last connection of a WAL database checkpoints it (an fsync per request).
        with self._lock:
            try:
                if self._db is None:
                    db = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
                    db.execute("PRAGMA journal_mode=WAL")
                    db.execute(f"PRAGMA synchronous={self.synchronous}")
                    db.execute("PRAGMA foreign_keys=ON")
                    self._db = db
                yield self._db
            except sqlite3.DatabaseError as err:
                if self._db is not None:
                    self._db.rollback()
                raise BenchError(f"{self.path}: not a study database, or unreadable ({err})") from None

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    # ------------------------------------------------------------------ participants

    def new_participant(self, kind: str = "web", pid: str | None = None) -> str:
        """A fresh anonymous id (random; nothing about the person); ``pid`` fixes it (the pilot's robots)."""
        with self._connect() as db:
            if pid is not None:
                try:
                    db.execute("INSERT INTO participants VALUES (?, ?, ?)", (pid, kind, time.time()))
                    db.commit()
                except sqlite3.IntegrityError:
                    db.rollback()
                    raise BenchError(f"{self.path}: participant {pid!r} exists already") from None
                return pid
            while True:
                pid = "p" + secrets.token_hex(5)
                try:
                    db.execute("INSERT INTO participants VALUES (?, ?, ?)", (pid, kind, time.time()))
                    db.commit()
                    return pid
                except sqlite3.IntegrityError:
                    db.rollback()
                    continue

    def participant_kind(self, pid: str) -> str | None:
        with self._connect() as db:
            row = db.execute("SELECT kind FROM participants WHERE id = ?", (pid,)).fetchone()
        return row[0] if row else None

    def participants(self) -> dict[str, str]:
        with self._connect() as db:
            return dict(db.execute("SELECT id, kind FROM participants ORDER BY created_at, id"))

    # ------------------------------------------------------------------ trials

    def mark_shown(self, pid: str, trial: int, images: list[dict]) -> None:
        """Record what a trial showed, the first time it is served (a reload keeps the first record)."""
        with self._connect() as db:
            db.execute("INSERT OR IGNORE INTO shown VALUES (?, ?, ?, ?)", (pid, trial, time.time(), json.dumps(images)))
            db.commit()

    def shown(self, pid: str, trial: int) -> list[dict] | None:
        with self._connect() as db:
            row = db.execute("SELECT images FROM shown WHERE participant = ? AND trial = ?", (pid, trial)).fetchone()
        return json.loads(row[0]) if row else None

    def answered(self, pid: str) -> set[int]:
        with self._connect() as db:
            return {t for (t,) in db.execute("SELECT trial FROM answers WHERE participant = ?", (pid,))}

    def record(self, answer: Answer) -> None:
        """Store one answer in its own committed transaction; refuse a second answer to a trial."""
        with self._connect() as db:
            try:
                db.execute("INSERT INTO answers VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", (
                    answer.participant, answer.trial, answer.dataset, answer.protocol, answer.method, answer.truth,
                    int(answer.scored), answer.answer, answer.image, answer.client_ms, answer.answered_at))
                db.commit()
            except sqlite3.IntegrityError:
                db.rollback()
                raise AnswerRefused(f"trial {answer.trial} of {answer.participant} is already answered or was never shown") from None

    def answers(self) -> list[Answer]:
        with self._connect() as db:
            rows = db.execute("SELECT participant, trial, dataset, protocol, method, truth, scored, answer, image, "
                              "client_ms, answered_at FROM answers ORDER BY participant, trial").fetchall()
        return [Answer(*r[:6], bool(r[6]), *r[7:]) for r in rows]

    def journal_mode(self) -> str:
        with self._connect() as db:
            return db.execute("PRAGMA journal_mode").fetchone()[0]


def open_store(path: str | Path, study, synchronous: str = "FULL") -> StudyStore:
    """The database of ``study`` (:class:`bench.userstudy.pool.Study`) at ``path``, created if absent.

    ``synchronous="NORMAL"`` (the scripted pilot's thousands of answers a minute) still commits
    every answer and survives a crash of the process, but not of the machine: no fsync per commit.
    """
    return StudyStore(path, study.hash, json.dumps(study.config.canonical(), sort_keys=True), synchronous)
