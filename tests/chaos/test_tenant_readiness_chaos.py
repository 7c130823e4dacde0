"""Chaos (contract sec. 8): one tenant's readiness raising, hanging or locked in the store.

Every test asserts the faulty tenant degrades to ``error`` alone: other tenants keep
answering, and /readyz and the global readiness metrics do not move.
"""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.support.metrics_text import value
from tests.support.polling import wait_until
from tests.support.server import running_server

pytestmark = pytest.mark.chaos

API_KEY, ADMIN_KEY = "chaos-api", "chaos-admin"
KEY, ADMIN = {"X-API-Key": API_KEY}, {"X-Admin-Key": ADMIN_KEY}
ENV = {"CHAOS_ENABLED": "1", "TENANT_API_KEY": API_KEY, "TENANT_ADMIN_KEY": ADMIN_KEY}

# fault configured in extra.chaos -> reasons the victim may answer with (deadline is 2 s)
FAULTS = [
    pytest.param({"readiness": "raise"}, {"resolution_failed"}, id="raise"),
    pytest.param({"readiness": "hang", "seconds": 5}, {"timeout"}, id="hang"),
    pytest.param({"readiness": "lock", "seconds": 4}, {"timeout", "store_unavailable"},
                 id="lock"),
]
BYSTANDER_READY = (200, {"tenant": "bystander", "status": "ready", "reason": "override"})
VICTIM_THREADS, VICTIM_PROBES, BYSTANDER_THREADS = 8, 3, 4


def fresh_get(server, path: str):
    response = server.request("GET", path)
    return response.status_code, response.json()


def global_metrics(server) -> dict:
    text = server.request("GET", "/metrics").text
    return {"state": value(text, "readiness_state"),
            "transitions": value(text, "readiness_transitions_total"),
            "store_ok": value(text, "readiness_check_ok", check="store")}


def until_stopped(stop: threading.Event, call, limit: int = 2000) -> list:
    seen = []
    while not stop.is_set() and len(seen) < limit:
        seen.append(call())
    return seen


@pytest.mark.gunicorn
@pytest.mark.parametrize("fault, reasons", FAULTS)
def test_faulty_tenant_degrades_alone_under_gunicorn(tmp_path, fault, reasons):
    stop = threading.Event()
    with running_server(tmp_path, workers=2, env=ENV) as server:
        assert wait_until(lambda: len(server.worker_pids()) == 2, seconds=30)
        for tenant in ("victim", "bystander"):
            assert server.request("PUT", f"/admin/tenants/{tenant}", json={},
                                  headers=ADMIN).status_code == 201
        assert server.request("POST", "/tenant/bystander/set_ready", json={"ready": True},
                              headers=KEY).status_code == 200
        assert fresh_get(server, "/tenant/victim/readyz")[0] == 200
        assert fresh_get(server, "/readyz") == (200, {"status": "ready"})
        before = global_metrics(server)
        assert before == {"state": 1, "transitions": 0, "store_ok": 1}
        response = server.request("PUT", "/admin/tenants/victim",
                                  json={"extra": {"chaos": fault}}, headers=ADMIN)
        assert response.status_code == 200

        def victim():
            return [fresh_get(server, "/tenant/victim/readyz") for _ in range(VICTIM_PROBES)]

        with ThreadPoolExecutor(VICTIM_THREADS + BYSTANDER_THREADS + 1) as pool:
            bystanders = [pool.submit(until_stopped, stop,
                                      lambda: fresh_get(server, "/tenant/bystander/readyz"))
                          for _ in range(BYSTANDER_THREADS)]
            probe = pool.submit(until_stopped, stop, lambda: fresh_get(server, "/readyz"))
            victims = [pool.submit(victim) for _ in range(VICTIM_THREADS)]
            try:
                victim_answers = [a for f in victims for a in f.result(timeout=120)]
            finally:
                stop.set()
            bystander_answers = [a for f in bystanders for a in f.result(timeout=60)]
            global_answers = probe.result(timeout=60)
        assert fresh_get(server, "/readyz") == (200, {"status": "ready"})
        assert fresh_get(server, "/tenant/bystander/readyz") == BYSTANDER_READY
        after = global_metrics(server)
    assert len(victim_answers) == VICTIM_THREADS * VICTIM_PROBES
    for code, body in victim_answers:
        assert code == 503
        assert body["tenant"] == "victim" and body["status"] == "error"
        assert body["reason"] in reasons
    assert len(bystander_answers) >= BYSTANDER_THREADS
    assert bystander_answers == [BYSTANDER_READY] * len(bystander_answers)
    assert global_answers and global_answers == [(200, {"status": "ready"})] * len(global_answers)
    assert after == before


@pytest.fixture
def settings_overrides(request):
    return {"TENANT_API_KEY": API_KEY, "TENANT_ADMIN_KEY": ADMIN_KEY,
            **getattr(request, "param", {})}


def configure(client, tenant: str, chaos: dict | None):
    body = {"extra": {"chaos": chaos}} if chaos else {}
    response = client.put(f"/admin/tenants/{tenant}", json=body, headers=ADMIN)
    assert response.status_code in (200, 201)


@pytest.mark.parametrize("fault", [
    {"readiness": "raise"}, {"readiness": "hang", "seconds": 5},
    {"readiness": "lock", "seconds": 4}], ids=["raise", "hang", "lock"])
def test_fault_config_is_ignored_without_chaos_enabled(client, fault):
    configure(client, "victim", fault)
    for _ in range(3):
        response = client.get("/tenant/victim/readyz")
        assert response.status_code == 200
        assert response.json == {"tenant": "victim", "status": "ready", "reason": "inherited"}
    assert client.get("/readyz").json == {"status": "ready"}


@pytest.mark.parametrize("settings_overrides", [{"CHAOS_ENABLED": 1}], indirect=True)
def test_raising_tenant_is_error_in_process_and_others_are_not(client):
    configure(client, "victim", {"readiness": "raise"})
    configure(client, "bystander", None)
    response = client.get("/tenant/victim/readyz")
    assert response.status_code == 503
    assert response.json == {"tenant": "victim", "status": "error",
                             "reason": "resolution_failed"}
    assert client.get("/tenant/bystander/readyz").status_code == 200
    configure(client, "victim", None)
    assert client.get("/tenant/victim/readyz").status_code == 200


@pytest.mark.parametrize("settings_overrides", [{"CHAOS_ENABLED": 1}], indirect=True)
def test_burst_of_probes_on_a_hung_tenant_does_not_starve_other_tenants(app, client):
    # Hang (6 s) outlasts the 2 s deadline of the burst and of the bystander asked after it.
    configure(client, "victim", {"readiness": "hang", "seconds": 6})
    configure(client, "bystander", None)
    assert client.post("/tenant/bystander/set_ready", json={"ready": True},
                       headers=KEY).status_code == 200

    def probe(_):
        response = app.test_client().get("/tenant/victim/readyz")
        return response.status_code, response.json["reason"]

    with ThreadPoolExecutor(16) as pool:
        burst = list(pool.map(probe, range(16)))
    assert burst == [(503, "timeout")] * 16
    bystander = client.get("/tenant/bystander/readyz")
    assert (bystander.status_code, bystander.json) == BYSTANDER_READY
    assert client.get("/readyz").status_code == 200
    configure(client, "victim", None)
    # Let the hung resolutions finish before the app (and its store) is closed.
    assert wait_until(lambda: client.get("/tenant/victim/readyz").status_code == 200, seconds=30)
    # And the threads that record a timed-out probe's "error" (close_app waits for them too,
    # bounded: SQLite crashes a process whose connection is closed under one of them).
    assert wait_until(lambda: not [t for t in threading.enumerate()
                                   if t.name == "tenant-readiness-error"])
