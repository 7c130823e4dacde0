"""Tenant readiness under a real gunicorn: one answer on every worker, exact counts server-wide."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.support.metrics_text import label_values, value
from tests.support.polling import wait_until
from tests.support.server import running_server

pytestmark = pytest.mark.gunicorn

API_KEY = "gunicorn-key"
ENV = {"TENANT_API_KEY": API_KEY, "TENANT_ADMIN_KEY": "adm"}
KEY = {"X-API-Key": API_KEY}


def has_workers(server, count: int) -> bool:
    return wait_until(lambda: len(server.worker_pids()) == count, seconds=30)


def fresh_readyz(server, tenant: str):
    """One probe on its own connection, so probes spread over the workers."""
    response = server.request("GET", f"/tenant/{tenant}/readyz")
    return response.status_code, response.json()


def set_ready(server, tenant: str, ready):
    return server.request("POST", f"/tenant/{tenant}/set_ready", json={"ready": ready},
                          headers=KEY)


@pytest.mark.parametrize("workers", [2, 4])
def test_set_ready_is_seen_by_every_worker_at_once(tmp_path, workers):
    steps = [(False, 503, "not ready", "override"), (True, 200, "ready", "override"),
             (None, 200, "ready", "inherited"), (False, 503, "not ready", "override")]
    with running_server(tmp_path, workers=workers, env=ENV) as server:
        assert has_workers(server, workers)
        for ready, code, status, reason in steps:
            response = set_ready(server, "acme", ready)
            assert response.status_code == 200
            assert response.json()["status"] == status
            with ThreadPoolExecutor(8) as pool:
                answers = list(pool.map(lambda _: fresh_readyz(server, "acme"), range(40)))
            expected = (code, {"tenant": "acme", "status": status, "reason": reason})
            assert answers == [expected] * 40
        assert len(server.worker_pids()) == workers


def test_transitions_are_counted_once_server_wide(tmp_path):
    probes = 320
    with running_server(tmp_path, workers=2, env=ENV) as server:
        assert has_workers(server, 2)
        for ready in (True, False, True):
            assert set_ready(server, "acme", ready).status_code == 200
        with ThreadPoolExecutor(16) as pool:
            answers = list(pool.map(lambda _: fresh_readyz(server, "acme"), range(probes)))
        text = server.request("GET", "/metrics").text
    assert answers == [(200, {"tenant": "acme", "status": "ready", "reason": "override"})] * probes
    assert value(text, "tenant_readiness_transitions_total", tenant="acme") == 2
    assert value(text, "tenant_readiness_state", tenant="acme") == 1


def test_flips_under_concurrent_probes_are_counted_once_each(tmp_path):
    flips = 30
    stop = threading.Event()

    def probe():
        seen = 0
        while not stop.is_set() and seen < 5000:
            code, body = fresh_readyz(server, "acme")
            assert code in (200, 503) and body["reason"] == "override"
            seen += 1
        return seen

    with running_server(tmp_path, workers=2, env=ENV) as server:
        assert set_ready(server, "acme", True).status_code == 200
        with ThreadPoolExecutor(16) as pool:
            probers = [pool.submit(probe) for _ in range(16)]
            try:
                for flip in range(flips):
                    response = set_ready(server, "acme", flip % 2 == 1)
                    assert response.json()["changed"] is True
            finally:
                stop.set()
            assert sum(f.result(timeout=60) for f in probers) > 0
        final = fresh_readyz(server, "acme")
        text = server.request("GET", "/metrics").text
    assert final == (200, {"tenant": "acme", "status": "ready", "reason": "override"})
    assert value(text, "tenant_readiness_transitions_total", tenant="acme") == flips
    assert value(text, "tenant_readiness_state", tenant="acme") == 1


@pytest.mark.parametrize("workers", [2, 4])
def test_concurrent_creation_admits_exactly_the_cap(tmp_path, workers):
    cap, callers = 8, 20
    start = threading.Barrier(callers)

    def create(i):
        start.wait(timeout=30)
        return set_ready(server, f"new{i}", True)

    with running_server(tmp_path, workers=workers, env={**ENV, "MAX_TENANT_LABELS": str(cap)}) \
            as server:
        assert has_workers(server, workers)
        with ThreadPoolExecutor(callers) as pool:
            responses = list(pool.map(create, range(callers)))
        text = server.request("GET", "/metrics").text
    codes = [r.status_code for r in responses]
    assert sorted(codes) == [200] * cap + [429] * (callers - cap)
    for response in responses:
        if response.status_code == 429:
            assert response.json() == {"error": "label_cardinality_limit", "limit": cap}
    admitted = {f"new{i}" for i, code in enumerate(codes) if code == 200}
    assert label_values(text, "tenant") == admitted
    assert value(text, "tenant_label_rejections_total") == callers - cap
    assert value(text, "tenant_labels_active") == cap
    assert value(text, "tenant_labels_limit") == cap


def effective(ready) -> str:
    """A tenant's status after set_ready(ready) while global readiness holds."""
    return "not ready" if ready is False else "ready"


def test_concurrent_set_ready_on_many_tenants_answers_what_is_stored(tmp_path):
    # Each client thread owns its tenants and sends their calls in order, so every
    # answer and the final state are known; 16 threads keep many calls in flight at once
    # in both workers, where they share transactions.
    threads, tenants_per_thread, steps = 16, 3, 12
    sequence = [[(True, False, None)[(t + s) % 3 if s % 4 else 1] for s in range(steps)]
                for t in range(tenants_per_thread)]

    def drive(thread: int) -> list[tuple[str, bool, str, bool]]:
        seen = []
        for step in range(steps):
            for index in range(tenants_per_thread):
                tenant, ready = f"t{thread}-{index}", sequence[index][step]
                response = server.request("POST", f"/tenant/{tenant}/set_ready",
                                          json={"ready": ready},
                                          headers={**KEY, "Connection": "close"})
                assert response.status_code == 200, response.text
                body = response.json()
                seen.append((tenant, ready, body["status"], body["changed"]))
        return seen

    with running_server(tmp_path, workers=2,
                        env={**ENV, "MAX_TENANT_LABELS": str(threads * tenants_per_thread)}) \
            as server:
        assert has_workers(server, 2)
        with ThreadPoolExecutor(threads) as pool:
            answers = [a for f in [pool.submit(drive, t) for t in range(threads)]
                       for a in f.result(timeout=300)]
        finals = {f"t{t}-{i}": fresh_readyz(server, f"t{t}-{i}")
                  for t in range(threads) for i in range(tenants_per_thread)}
        text = server.request("GET", "/metrics").text
        audit = server.request("GET", "/admin/audit?limit=1000",
                               headers={"X-Admin-Key": "adm"}).json()["entries"]
    assert len(answers) == threads * tenants_per_thread * steps
    overrides = [e["tenant"] for e in audit if e["action"] == "readiness_override"]
    for index in range(tenants_per_thread):
        values = sequence[index]
        changed = [v is not None for v in values[:1]] + \
            [values[s] is not values[s - 1] for s in range(1, steps)]
        statuses = [effective(v) for v in values]
        transitions = sum(a != b for a, b in zip(["ready"] + statuses, statuses))
        for thread in range(threads):
            tenant = f"t{thread}-{index}"
            assert [(s, c) for t, _, s, c in answers if t == tenant] == \
                list(zip(statuses, changed))
            reason = "inherited" if values[-1] is None else "override"
            assert finals[tenant] == ((503 if statuses[-1] == "not ready" else 200),
                                      {"tenant": tenant, "status": statuses[-1],
                                       "reason": reason})
            assert value(text, "tenant_readiness_transitions_total", tenant=tenant) == \
                transitions
            assert overrides.count(tenant) == sum(changed)
