"""The study's web app (Flask): start or resume, one trial per page, answers posted back.

Routes: ``/`` start or resume; ``POST /start`` a new anonymous id; ``/p/<id>`` the next
unanswered trial (recorded in ``shown`` when first served); ``/img/<id>/<token>`` an image of a
trial shown to that participant, under an opaque token; ``POST /p/<id>/answer``. An answer
about an image that was not shown to that participant in that trial, or a second answer to a
trial, is refused (409) and stored nowhere.
"""
from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict

from bench.userstudy.plan import PREFERENCE, REALNESS, Trial, image_token, make_plan
from bench.userstudy.pool import Study
from bench.userstudy.store import Answer, AnswerRefused, StudyStore

DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 8765


class Plans:
    """Participants' plans, derived on first use and kept for the most recent ones."""

    def __init__(self, study: Study, keep: int = 64):
        self.study, self.keep = study, keep
        self._plans: OrderedDict[str, tuple[list[Trial], dict[str, tuple[int, int]]]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, pid: str) -> tuple[list[Trial], dict[str, tuple[int, int]]]:
        with self._lock:
            if pid in self._plans:
                self._plans.move_to_end(pid)
                return self._plans[pid]
        trials = make_plan(self.study, pid)
        tokens = {image_token(self.study.hash, pid, t.index, slot): (t.index, slot)
                  for t in trials for slot in range(len(t.images))}
        with self._lock:
            self._plans[pid] = (trials, tokens)
            while len(self._plans) > self.keep:
                self._plans.popitem(last=False)
        return trials, tokens


def shown_record(study: Study, pid: str, trial: Trial) -> list[dict]:
    """What the ``shown`` table keeps of a trial: each image, its token and the SHA-256 of its file."""
    pool = study.pools[trial.dataset]
    out = []
    for slot, ref in enumerate(trial.images):
        digest = None if ref.role == "pose" else hashlib.sha256(pool.path(ref).read_bytes()).hexdigest()
        out.append({"slot": slot, "token": image_token(study.hash, pid, trial.index, slot), **ref.to_json(),
                    "file": None if ref.role == "pose" else str(pool.path(ref)), "sha256": digest})
    return out


def create_app(study: Study, store: StudyStore):
    from flask import Flask, Response, abort, redirect, render_template, request, url_for

    from bench.data.show import display_scale

    app = Flask(__name__)
    plans = Plans(study)

    def known(pid: str) -> None:
        if store.participant_kind(pid) is None:
            abort(404, f"no participant {pid!r} in this study")

    @app.after_request
    def no_cache(response):
        response.headers["Cache-Control"] = "no-store"
        return response

    @app.get("/")
    def index():
        return render_template("index.html", error=request.args.get("error"))

    @app.post("/start")
    def start():
        return redirect(url_for("trial", pid=store.new_participant("web")), 303)

    @app.get("/resume")
    def resume():
        pid = request.args.get("id", "").strip()
        if store.participant_kind(pid) is None:
            return render_template("index.html", error=f"no participant {pid!r} in this study"), 404
        return redirect(url_for("trial", pid=pid), 303)

    @app.get("/p/<pid>")
    def trial(pid: str):
        known(pid)
        trials, _ = plans.get(pid)
        done = store.answered(pid)
        pending = [t for t in trials if t.index not in done]
        if not pending:
            return render_template("done.html", pid=pid, n=len(trials))
        current = pending[0]
        store.mark_shown(pid, current.index, shown_record(study, pid, current))
        pool = study.pools[current.dataset]
        h, w = pool.layout.kind.image_size
        scale = display_scale((h, w))
        tokens = [image_token(study.hash, pid, current.index, s) for s in range(len(current.images))]
        page = "realness.html" if current.protocol == REALNESS else "preference.html"
        return render_template(page, pid=pid, trial=current, tokens=tokens, n=len(trials), done=len(done),
                               width=w * scale, height=h * scale, show_ms=study.config.show_ms)

    @app.get("/img/<pid>/<token>")
    def image(pid: str, token: str):
        known(pid)
        trials, tokens = plans.get(pid)
        if token not in tokens:
            abort(404)
        index, slot = tokens[token]
        if store.shown(pid, index) is None:  # only images of trials already served to this participant
            abort(404)
        t = trials[index]
        return Response(study.pools[t.dataset].png(t.images[slot]), mimetype="image/png")

    @app.post("/p/<pid>/answer")
    def answer(pid: str):
        known(pid)
        trials, tokens = plans.get(pid)
        try:
            index = int(request.form.get("trial", ""))
        except ValueError:
            abort(400, "trial must be an integer")
        token, value = request.form.get("image", ""), request.form.get("answer", "")
        if not 0 <= index < len(trials):
            abort(409, f"trial {index} is not in this participant's plan")
        shown = store.shown(pid, index)
        if shown is None:
            abort(409, f"trial {index} was never shown to {pid}")
        t = trials[index]
        if tokens.get(token, (None,))[0] != index or token not in {s["token"] for s in shown}:
            abort(409, f"image {token!r} was not shown to {pid} in trial {index}")
        slot = tokens[token][1]
        ref = t.images[slot]
        if t.protocol == REALNESS:
            if value not in ("real", "fake"):
                abort(400, "answer must be 'real' or 'fake'")
            method = t.method
        else:
            if ref.role != "generated":
                abort(409, f"image {token!r} is not one of trial {index}'s results")
            method = value = ref.method
        try:
            client_ms = float(request.form["client_ms"]) if request.form.get("client_ms") else None
        except ValueError:
            client_ms = None
        try:
            store.record(Answer(pid, index, t.dataset, t.protocol, method, t.truth, t.scored, value, token,
                                client_ms, time.time()))
        except AnswerRefused as err:
            abort(409, str(err))
        return redirect(url_for("trial", pid=pid), 303)

    app.config["STUDY"], app.config["STORE"] = study, store
    return app


def serve(study: Study, store: StudyStore, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> None:
    """Run the app on ``host:port`` (default loopback only) until interrupted."""
    import sys

    print(f"study {study.hash[:12]}: open http://{host}:{port}/ (Ctrl-C stops; answers are in {store.path})",
          file=sys.stderr)
    create_app(study, store).run(host=host, port=port, threaded=True, use_reloader=False)


__all__ = ["create_app", "serve", "PREFERENCE", "REALNESS"]
