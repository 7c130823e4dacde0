"""TenantgateFlask remembers ensure_sync's answers, bounded, without changing them."""
from __future__ import annotations

import pytest
from flask import Flask, after_this_request

from app.flask_app import SYNC_CACHE_SIZE, TenantgateFlask


def test_per_request_callbacks_run_every_time_and_the_cache_stays_bounded():
    app = TenantgateFlask(__name__)

    @app.route("/stamp/<int:n>")
    def stamp(n):
        @after_this_request
        def add_header(response):  # a new function at every request
            response.headers["X-Stamp"] = str(n)
            return response
        return {"n": n}

    client = app.test_client()
    for n in range(SYNC_CACHE_SIZE + 50):
        assert client.get(f"/stamp/{n}").headers["X-Stamp"] == str(n)
    assert len(app._sync) <= SYNC_CACHE_SIZE


def test_the_answer_for_a_coroutine_function_is_flasks_own():
    async def coroutine_view():
        return "x"

    def answer(app):
        try:
            return type(app.ensure_sync(coroutine_view)).__name__
        except RuntimeError as exc:  # Flask without its async extra
            return f"RuntimeError: {exc}"

    ours = TenantgateFlask(__name__)
    assert answer(ours) == answer(Flask(__name__))
    assert answer(ours) == answer(ours)  # asked again: remembered, the same


@pytest.mark.parametrize("hook", ["before_request", "after_request", "teardown_request"])
def test_hooks_are_run_as_flask_runs_them(hook):
    app = TenantgateFlask(__name__)
    ran = []

    def record(*args):
        ran.append(hook)
        return args[0] if hook == "after_request" else None

    getattr(app, hook)(record)
    app.add_url_rule("/", "index", lambda: "ok")
    client = app.test_client()
    for _ in range(3):
        assert client.get("/").status_code == 200
    assert ran == [hook] * 3
