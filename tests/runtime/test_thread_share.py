"""The per-tenant thread share (contract sec. 17): a tenant holds at most part of the threads."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from flask import Blueprint

from app.runtime import register_tenant_blueprint
from app.runtime.thread_share import ThreadShare
from app.services import services_of
from tests.runtime.helpers import KEY, put
from tests.support.metrics_text import value
from tests.support.polling import poll

WAIT = 10.0


@pytest.fixture
def settings_overrides():
    # 4 request threads and the default share of 0.5: two per tenant.
    return {"TENANT_ADMIN_KEY": KEY, "GUNICORN_THREADS": 4}


@pytest.fixture
def gate(app):
    """A tenant route that blocks until the test opens the gate."""
    state = {"open": threading.Event(), "inside": 0, "lock": threading.Lock()}
    blueprint = Blueprint("gated_for_test", __name__)

    @blueprint.route("/gated")
    def gated():
        with state["lock"]:
            state["inside"] += 1
        assert state["open"].wait(WAIT)
        return {"ok": True}

    register_tenant_blueprint(app, blueprint)
    yield state
    state["open"].set()


def test_share_is_part_of_the_threads_and_at_least_one(app):
    settings = services_of(app).settings
    assert settings.tenant_thread_share == 2
    assert type(settings)(request_threads=1).tenant_thread_share == 1
    assert type(settings)(request_threads=16, tenant_max_thread_share=0.25) \
        .tenant_thread_share == 4


def test_one_request_over_the_share_is_refused_at_once_and_others_are_served(
        app, client, gate):
    for tenant in ("a", "b"):
        assert put(client, tenant).status_code == 201
    with ThreadPoolExecutor(2) as pool:
        held = [pool.submit(app.test_client().get, "/t/a/gated") for _ in range(2)]
        assert poll(lambda: gate["inside"], lambda n: n == 2, WAIT) == 2

        refused = client.get("/t/a/gated")
        other = client.get("/t/b/health")
        readyz = client.get("/readyz")
        gate["open"].set()
        assert [f.result(WAIT).status_code for f in held] == [200, 200]

    assert refused.status_code == 429
    assert refused.get_json() == {"error": "tenant_busy", "limit": 2}
    assert refused.headers["Retry-After"] == "1"
    assert other.status_code == 200 and readyz.status_code == 200
    assert client.get("/t/a/health").status_code == 200  # the share is free again
    text = client.get("/metrics").get_data(as_text=True)
    assert value(text, "tenant_limit_rejections_total", tenant="a", limit="requests",
                 scope="tenant") == 1


def test_refused_and_failed_requests_give_their_share_back(app, client):
    assert put(client, "a").status_code == 201
    share = services_of(app).thread_share
    for _ in range(5):
        assert client.get("/t/a/nothing-here").status_code == 404
        assert client.get("/t/zz-unknown/health").status_code == 404
        assert client.get("/t/a/health").status_code == 200
    assert share.in_flight("a") == 0 and share.in_flight("zz-unknown") == 0


def test_share_counts_each_tenant_apart_and_forgets_idle_ones():
    share = ThreadShare(2)
    assert share.try_enter("a") and share.try_enter("a")
    assert not share.try_enter("a")
    assert share.try_enter("b")
    share.leave("a")
    assert share.try_enter("a")
    for tenant in ("a", "a", "b"):
        share.leave(tenant)
    assert share._busy == {}  # only tenants with requests in flight are kept
