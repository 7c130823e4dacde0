"""A PostgreSQL outage under two hosts: /readyz 503 and admin writes 503 store_unavailable on
every host, liveness untouched, and after the restart both hosts recover on their own with
every acknowledged write intact (contract sec. 10)."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.multihost.hosts import ADMIN, POLL_TIMEOUT, hosts, put_tenant, set_ready
from tests.support.polling import wait_until
from tests.support.postgres_fixtures import throwaway_postgres

pytestmark = pytest.mark.gunicorn

ENV = {"LIMIT_BACKEND": "postgres", "CHAOS_ENABLED": "1"}
CONFIG = ("tenant_id", "data_dir", "uploads_dir", "enabled", "hosts", "limits", "extra",
          "created_at", "updated_at")
# Acknowledged writes made before the outage: (tenant, body of its PUT).
TENANTS = {"one": {"extra": {"plan": "gold"}}, "two": {"limits": {"llm_student": 3}},
           "three": {"hosts": ["three.example"]}, "four": {}}


@pytest.fixture
def own_postgres():
    """A PostgreSQL server of this test's own: it is stopped and started again."""
    yield from throwaway_postgres()


def config(server, tenant: str) -> dict:
    response = server.request("GET", f"/admin/tenants/{tenant}", headers=ADMIN)
    assert response.status_code == 200, response.text
    return {k: response.json()[k] for k in CONFIG}


def readyz(server, path: str = "/readyz") -> int | None:
    try:
        return server.request("GET", path).status_code
    except requests.RequestException:  # a host that does not answer is not ready either
        return None


def check_outage_answers(server) -> None:
    """What one host answers while the store is down: bounded polls, no timing."""
    assert wait_until(lambda: readyz(server) == 503, POLL_TIMEOUT), \
        f"timed out waiting for /readyz 503 on {server.base}"
    refused: list = []

    def refused_write() -> bool:
        refused[:] = [put_tenant(server, "x")]
        return refused[0].status_code == 503

    assert wait_until(refused_write, POLL_TIMEOUT), \
        f"timed out waiting for PUT refused with 503 on {server.base}"
    assert refused[0].json() == {"error": "store_unavailable"}
    assert int(refused[0].headers["Retry-After"]) >= 1
    health = server.request("GET", "/healthz")  # liveness consults no dependency
    assert (health.status_code, health.json()) == (200, {"status": "ok"})
    # A tenant's readiness degrades to "error"; it never raises.
    tenant = server.request("GET", "/tenant/two/readyz")
    assert (tenant.status_code, tenant.json()["status"]) == (503, "error")
    assert server.request("GET", "/readyz").json() == {"status": "not ready"}


def test_a_store_outage_is_reported_by_every_host_and_loses_nothing(tmp_path, own_postgres):
    url = own_postgres.create_database()
    with hosts(tmp_path, url, env=ENV) as (a, b):
        # Acknowledged writes, spread over both hosts.
        for index, (tenant, body) in enumerate(TENANTS.items()):
            writer = (a, b)[index % 2]
            assert put_tenant(writer, tenant, body).status_code == 201
        assert put_tenant(b, "one", {"extra": {"plan": "platinum"}}).status_code == 200
        assert a.request("DELETE", "/admin/tenants/four", headers=ADMIN).status_code == 200
        assert set_ready(a, "two", False).json()["changed"] is True
        assert set_ready(b, "three", True).json()["changed"] is True
        before = {tenant: config(a, tenant) for tenant in TENANTS}
        assert before == {tenant: config(b, tenant) for tenant in TENANTS}
        assert before["one"]["extra"] == {"plan": "platinum"} and not before["four"]["enabled"]
        for server in (a, b):
            assert server.request("GET", "/readyz").status_code == 200

        own_postgres.stop("fast")

        with ThreadPoolExecutor(2) as pool:  # each store call may wait for the pool's timeout
            list(pool.map(check_outage_answers, (a, b), timeout=120))

        own_postgres.start()  # same data directory, same port

        for server in (a, b):
            assert wait_until(lambda s=server: readyz(s) == 200, 60), \
                f"timed out waiting for /readyz 200 again on {server.base}"
        for server in (a, b):
            assert {tenant: config(server, tenant) for tenant in TENANTS} == before
            two = server.request("GET", "/tenant/two/readyz")
            assert (two.status_code, two.json()) == \
                (503, {"tenant": "two", "status": "not ready", "reason": "override"})
            three = server.request("GET", "/tenant/three/readyz")
            assert (three.status_code, three.json()) == \
                (200, {"tenant": "three", "status": "ready", "reason": "override"})
            four = server.request("GET", "/tenant/four/readyz")
            assert (four.status_code, four.json()["reason"]) == (503, "disabled")
            assert server.request("GET", "/admin/tenants/x", headers=ADMIN).status_code == 404
        # Both hosts write again, and their limit sessions came back too.
        assert put_tenant(a, "after-a").status_code == 201
        assert put_tenant(b, "after-b").status_code == 201
        for server in (a, b):
            held = server.request("POST", "/t/one/chaos/hold/llm_student?ms=0")
            assert held.status_code == 200, held.text
