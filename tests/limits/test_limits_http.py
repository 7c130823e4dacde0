"""Concurrency limits over HTTP through the test client, with real threads (contract sec. 6, 8)."""
from __future__ import annotations

import io
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from app.examples import llm_routes
from app.services import services_of
from tests.support.metrics_text import label_values, samples, scrape, value, wait_for_metric
from tests.support.polling import poll

KEY = "limits-admin-key-7c1d"
ADMIN = {"X-Admin-Key": KEY}
# The share of threads per tenant out of the way: these tests count the tenant limits, with
# up to 10 test-client threads standing for a worker's request threads.
SETTINGS = {"TENANT_ADMIN_KEY": KEY, "CHAOS_ENABLED": 1, "LIMIT_WAIT_SECONDS": 0,
            "GUNICORN_THREADS": 16, "TENANT_MAX_THREAD_SHARE": 1}
TIMEOUT = 20.0


def refusal(scope: str, limit: str) -> dict:
    return {"error": "concurrency_limit", "scope": scope, "limit": limit}


@pytest.fixture
def settings_overrides(request):
    return getattr(request, "param", SETTINGS)


@pytest.fixture
def app(app):
    # The example blueprint and its model client, registered the documented way before
    # the first request.
    llm_routes.init_app(app)
    return app


@pytest.fixture
def tenants(client):
    for tenant in ("a", "b", "c"):
        assert client.put(f"/admin/tenants/{tenant}", json={}, headers=ADMIN).status_code == 201
        assert client.get(f"/t/{tenant}/health").status_code == 200  # built before any burst
    return ["a", "b", "c"]


class Held:
    """Permits held in this process through the app's own Limiter, released one by one."""

    def __init__(self, app, tenant: str, name: str, count: int):
        limiter = services_of(app).limiter
        record = services_of(app).store.tenants.get(tenant)
        self._holds = [limiter.hold(tenant, record.limits, name) for _ in range(count)]
        for hold in self._holds:
            hold.__enter__()

    def release(self, count: int = 1) -> None:
        for _ in range(count):
            self._holds.pop(0).__exit__(None, None, None)

    def release_all(self) -> None:
        self.release(len(self._holds))


def burst(app, paths: list[str]) -> list:
    """POST every path at once from its own thread (and test client); answers in order."""
    barrier = threading.Barrier(len(paths))

    def post(path):
        client = app.test_client()
        barrier.wait(timeout=TIMEOUT)
        return client.post(path)

    with ThreadPoolExecutor(len(paths)) as pool:
        return list(pool.map(post, paths, timeout=TIMEOUT))


def assert_refused(response, status: int, scope: str, limit: str) -> None:
    assert response.status_code == status
    assert response.get_json() == refusal(scope, limit)
    assert int(response.headers["Retry-After"]) >= 1


def test_ten_concurrent_holds_admit_exactly_the_tenant_limit_while_a_neighbour_is_served(
        app, client, tenants):
    with ThreadPoolExecutor(1) as background:
        # Long enough that tenant b's ten requests fit inside the hold even on a busy CI host.
        answers = background.submit(burst, app, ["/t/a/chaos/hold/llm_student?ms=1500"] * 10)
        wait_for_metric(client, 2, "tenant_limit_inflight", tenant="a", limit="llm_student")
        neighbour = [client.get("/t/b/health") for _ in range(5)]
        neighbour += [client.post("/t/b/chaos/hold/llm_student?ms=0") for _ in range(5)]
        still = value(scrape(client), "tenant_limit_inflight", tenant="a", limit="llm_student")
        responses = answers.result(timeout=TIMEOUT)
    assert still == 2  # tenant b was served while tenant a was saturated
    assert [r.status_code for r in neighbour] == [200] * 10
    assert all(r.get_json()["status"] == "ok" and r.get_json()["tenant"] == "b"
               for r in neighbour[:5])
    assert all(r.get_json() == {"tenant": "b", "limit": "llm_student", "held_ms": 0}
               for r in neighbour[5:])

    assert Counter(r.status_code for r in responses) == {200: 2, 429: 8}
    for response in responses:
        if response.status_code == 200:
            assert response.get_json() == {"tenant": "a", "limit": "llm_student", "held_ms": 1500}
        else:
            assert_refused(response, 429, "tenant", "llm_student")
    text = scrape(client)
    assert value(text, "tenant_limit_rejections_total",
                 tenant="a", limit="llm_student", scope="tenant") == 8
    assert "b" not in {dict(lbls)["tenant"] for (name, lbls) in samples(text)
                       if name == "tenant_limit_rejections_total"}
    assert value(text, "tenant_limit_inflight", tenant="a", limit="llm_student") == 0


@pytest.mark.parametrize("settings_overrides", [{**SETTINGS, "GLOBAL_LIMIT_LLM_STUDENT": 3}],
                         indirect=True, ids=["global_llm_student_3"])
def test_a_global_limit_below_the_sum_of_tenant_limits_refuses_the_excess_with_503(
        app, client, tenants):
    paths = [f"/t/{t}/chaos/hold/llm_student?ms=800" for t in tenants for _ in range(2)]
    with ThreadPoolExecutor(1) as background:
        answers = background.submit(burst, app, paths)
        during = wait_for_metric(client, 3, "global_limit_inflight", limit="llm_student")
        responses = answers.result(timeout=TIMEOUT)
    assert value(during, "global_limit_capacity", limit="llm_student") == 3
    assert sum(value(during, "tenant_limit_inflight", tenant=t, limit="llm_student")
               for t in tenants) == 3

    assert Counter(r.status_code for r in responses) == {200: 3, 503: 3}
    for response in responses:
        if response.status_code == 503:
            assert_refused(response, 503, "global", "llm_student")
    text = scrape(client)
    assert sum(value(text, "tenant_limit_rejections_total", tenant=t, limit="llm_student",
                     scope="global") or 0 for t in tenants) == 3
    assert value(text, "global_limit_inflight", limit="llm_student") == 0


def test_raising_a_tenant_limit_through_the_admin_api_is_live_on_the_next_request(
        app, client, tenants):
    held = Held(app, "a", "llm_student", 2)
    try:
        assert_refused(client.post("/t/a/chaos/hold/llm_student?ms=0"), 429, "tenant",
                       "llm_student")
        changed = client.put("/admin/tenants/a", json={"limits": {"llm_student": 4}},
                             headers=ADMIN)
        assert changed.status_code == 200
        assert changed.get_json()["limits"] == {"llm_student": 4}
        assert client.post("/t/a/chaos/hold/llm_student?ms=0").status_code == 200
        more = Held(app, "a", "llm_student", 2)
        text = scrape(client)
        assert value(text, "tenant_limit_inflight", tenant="a", limit="llm_student") == 4
        assert_refused(client.post("/t/a/chaos/hold/llm_student?ms=0"), 429, "tenant",
                       "llm_student")
        more.release_all()
    finally:
        held.release_all()


def test_lowering_a_tenant_limit_below_the_permits_held_admits_nothing_until_enough_end(
        app, client, tenants):
    assert client.put("/admin/tenants/a", json={"limits": {"llm_student": 4}},
                      headers=ADMIN).status_code == 200
    held = Held(app, "a", "llm_student", 4)
    try:
        assert client.put("/admin/tenants/a", json={"limits": {"llm_student": 2}},
                          headers=ADMIN).status_code == 200
        held.release()  # three still held, the new limit is two
        assert_refused(client.post("/t/a/chaos/hold/llm_student?ms=0"), 429, "tenant",
                       "llm_student")
        assert value(scrape(client), "tenant_limit_inflight", tenant="a",
                     limit="llm_student") == 3
        held.release(2)  # one held: one more fits
        assert client.post("/t/a/chaos/hold/llm_student?ms=0").status_code == 200
    finally:
        held.release_all()


def test_example_llm_routes_answer_and_refuse_with_429_when_saturated(app, client, tenants):
    for role in ("student", "teacher"):
        response = client.post(f"/t/a/llm/{role}")
        assert response.status_code == 200
        assert response.get_json() == {"tenant": "a", "workspace": "main", "role": role,
                                       "model": "echo", "answer": "ok"}
    students = Held(app, "a", "llm_student", 2)
    try:
        assert_refused(client.post("/t/a/llm/student"), 429, "tenant", "llm_student")
        assert client.post("/t/a/llm/teacher").status_code == 200  # another role
        assert client.post("/t/b/llm/student").status_code == 200  # another tenant
        # Roles nest under the family total: a full llm_total refuses every role.
        assert client.put("/admin/tenants/a", json={"limits": {"llm_total": 2}},
                          headers=ADMIN).status_code == 200
        assert_refused(client.post("/t/a/llm/teacher"), 429, "tenant", "llm_total")
    finally:
        students.release_all()
    assert client.post("/t/a/llm/teacher").status_code == 200
    text = scrape(client)
    assert value(text, "tenant_limit_rejections_total", tenant="a", limit="llm_student",
                 scope="tenant") == 1
    assert value(text, "tenant_limit_rejections_total", tenant="a", limit="llm_total",
                 scope="tenant") == 1


def test_inflight_gauges_are_non_zero_while_a_hold_is_in_progress(app, client, tenants):
    with ThreadPoolExecutor(1) as background:
        # Long enough to be seen even on a loaded machine; the test waits for its end anyway.
        hold = background.submit(app.test_client().post, "/t/a/chaos/hold/llm_teacher?ms=4000")
        # Permits are taken one by one (tenant total, tenant role, global total, global
        # role): wait for the last, or a scrape can fall between two of them.
        text = wait_for_metric(client, 1, "global_limit_inflight", limit="llm_teacher")
        assert value(text, "tenant_limit_inflight", tenant="a", limit="llm_teacher") == 1
        assert value(text, "tenant_limit_inflight", tenant="a", limit="llm_total") == 1
        assert value(text, "global_limit_inflight", limit="llm_total") == 1
        assert value(text, "tenant_limit_inflight", tenant="b", limit="llm_teacher") == 0
        assert value(text, "global_limit_capacity", limit="llm_teacher") == 80
        assert hold.result(timeout=TIMEOUT).status_code == 200
    text = scrape(client)
    for limit in ("llm_teacher", "llm_total"):
        assert value(text, "tenant_limit_inflight", tenant="a", limit=limit) == 0
        assert value(text, "global_limit_inflight", limit=limit) == 0


def test_a_purged_tenants_limit_series_disappear(app, client, tenants):
    held = Held(app, "c", "ocr", 5)
    try:
        assert_refused(client.post("/t/c/chaos/hold/ocr?ms=0"), 429, "tenant", "ocr")
        text = scrape(client)
        assert value(text, "tenant_limit_inflight", tenant="c", limit="ocr") == 5
        assert value(text, "tenant_limit_rejections_total", tenant="c", limit="ocr",
                     scope="tenant") == 1
        purged = client.delete("/admin/tenants/c?purge=1", headers=ADMIN)
        assert purged.status_code == 200
        assert purged.get_json()["purged"] is True
        text = scrape(client)
    finally:
        held.release_all()
    assert "c" not in label_values(text, "tenant")
    assert {"a", "b"} <= label_values(text, "tenant")
    assert value(text, "tenant_limit_inflight", tenant="a", limit="ocr") == 0


def test_upload_processing_waits_for_the_tenants_ocr_permit(app, client, tenants):
    done = client.post("/t/a/uploads", data={"file": (io.BytesIO(b"page"), "a.txt")})
    assert done.status_code == 202
    state = poll(lambda: client.get(f"/t/a/uploads/{done.get_json()['id']}").get_json()["state"],
                 lambda state: state not in ("queued", "processing"), TIMEOUT)
    assert state == "done"

    held = Held(app, "a", "ocr", 5)
    try:
        queued = client.post("/t/a/uploads", data={"file": (io.BytesIO(b"page"), "b.txt")})
        assert queued.status_code == 202
        wait_for_metric(client, 1, "tenant_limit_rejections_total", tenant="a", limit="ocr",
                        scope="tenant")
        status = client.get(f"/t/a/uploads/{queued.get_json()['id']}").get_json()
        assert status["state"] == "queued"
    finally:
        held.release_all()
    # Once permits are free again the queued upload is processed, not dropped.
    state = poll(lambda: client.get(f"/t/a/uploads/{queued.get_json()['id']}").get_json()["state"],
                 lambda state: state not in ("queued", "processing"), TIMEOUT)
    assert state == "done"


@pytest.mark.parametrize("settings_overrides", [{**SETTINGS, "CHAOS_ENABLED": 0}],
                         indirect=True, ids=["chaos_disabled"])
def test_the_hold_route_is_absent_without_chaos_enabled(client, tenants):
    response = client.post("/t/a/chaos/hold/llm_student?ms=0")
    assert response.status_code == 404
    assert response.get_json() == {"error": "not_found"}


@pytest.mark.parametrize("query", ["ms=30001", "ms=-1", "ms=abc", ""])
def test_a_bad_hold_duration_is_a_400(client, tenants, query):
    response = client.post(f"/t/a/chaos/hold/llm_student?{query}")
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_query"
    assert value(scrape(client), "tenant_limit_inflight", tenant="a", limit="llm_student") == 0


@pytest.mark.parametrize("limit", ["nope", "llm_bogus", "LLM_STUDENT"])
def test_an_unknown_limit_is_a_404(client, tenants, limit):
    response = client.post(f"/t/a/chaos/hold/{limit}?ms=0")
    assert response.status_code == 404
    assert response.get_json() == {"error": "unknown_limit", "limit": limit}
    text = scrape(client)
    assert value(text, "tenant_limit_inflight", tenant="a", limit="llm_total") == 0
    assert label_values(text, "limit") == {"llm_total", "llm_student", "llm_teacher", "ocr"}


def test_an_unknown_tenant_is_a_404_before_any_limit_is_taken(client, tenants):
    response = client.post("/t/zz/chaos/hold/llm_student?ms=0")
    assert response.status_code == 404
    assert response.get_json() == {"error": "unknown_tenant"}


def test_a_scrape_counts_global_and_tenant_permits_in_one_read(app, client, tenants,
                                                               monkeypatch):
    """One moment for every in-flight series: read one limit at a time, a permit released
    between two reads showed on the tenant series and no longer on the global one."""
    backend = services_of(app).limiter.backend
    reads: list[list] = []
    real_many = backend.inflight_many

    def many(wanted):
        reads.append(list(wanted))
        return real_many(wanted)

    monkeypatch.setattr(backend, "inflight_many", many)
    monkeypatch.setattr(backend, "inflight", lambda *args: pytest.fail("read one by one"))
    held = Held(app, "a", "llm_student", 1)
    try:
        text = scrape(client)
    finally:
        held.release()
    assert len(reads) == 1
    assert ("_global", "llm_student", 50) in reads[0] and ("a", "llm_student", 2) in reads[0]
    assert value(text, "global_limit_inflight", limit="llm_student") == 1
    assert value(text, "tenant_limit_inflight", tenant="a", limit="llm_student") == 1
