"""Chaos (contract sec. 17, shared pools): tenants that hang use only their own threads.

Readiness resolution used a pool of 8 threads per worker: 20 tenants whose resolution
hangs, each probed once, used it up, and a healthy tenant then answered ``timeout``.
These tests hang more tenants than that pool had threads, plus one, and show every
other tenant's answer unchanged and /readyz untouched.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.support.server import running_server

pytestmark = [pytest.mark.chaos, pytest.mark.gunicorn]

ADMIN_KEY = "pools-admin"
ADMIN = {"X-Admin-Key": ADMIN_KEY}
ENV = {"CHAOS_ENABLED": "1", "TENANT_ADMIN_KEY": ADMIN_KEY, "MAX_TENANT_LABELS": "40"}
OLD_POOL = 8  # resolver threads per worker before the fix
HUNG = 2 * OLD_POOL + 4  # the attack as reported: 20 hung tenants
HANG_SECONDS = 20


def put(server, tenant: str, body: dict) -> None:
    assert server.request("PUT", f"/admin/tenants/{tenant}", json=body,
                          headers=ADMIN).status_code in (200, 201)


def probe_all_hung(server, path: str) -> list[int]:
    """Probe every hung tenant three times on fresh connections, so both workers get some."""
    paths = [path.format(tenant=f"hung-{i}") for i in range(HUNG)] * 3
    with ThreadPoolExecutor(len(paths)) as pool:
        return [r.status_code for r in pool.map(lambda p: server.request("GET", p), paths)]


def test_hung_readiness_of_many_tenants_leaves_a_healthy_tenant_answering(tmp_path):
    with running_server(tmp_path, workers=2, env=ENV) as server:
        put(server, "healthy", {})
        for i in range(HUNG):
            put(server, f"hung-{i}",
                {"extra": {"chaos": {"readiness": "hang", "seconds": HANG_SECONDS}}})

        codes = probe_all_hung(server, "/tenant/{tenant}/readyz")

        assert set(codes) == {503}  # each hung tenant answers "error" after its deadline
        # Every worker still holds every hung resolution; the healthy tenant is not queued
        # behind them.
        for _ in range(10):
            response = server.request("GET", "/tenant/healthy/readyz")
            assert (response.status_code, response.json()) == (
                200, {"tenant": "healthy", "status": "ready", "reason": "inherited"})
        assert server.request("GET", "/readyz").json() == {"status": "ready"}
        assert requests_ok(server)


def test_hung_validators_of_many_tenants_leave_a_healthy_tenant_serving(tmp_path):
    env = {**ENV, "VALIDATOR_TIMEOUT_SECONDS": "1"}
    with running_server(tmp_path, workers=2, env=env) as server:
        put(server, "healthy", {})
        for i in range(HUNG):
            put(server, f"hung-{i}",
                {"extra": {"chaos": {"validator": "hang", "seconds": HANG_SECONDS}}})

        codes = probe_all_hung(server, "/t/{tenant}/health")

        # Pending while the first validation runs, then failed: never served, never a 5xx
        # other than the contract's tenant answers.
        assert set(codes) <= {503}
        for _ in range(10):
            response = server.request("GET", "/t/healthy/health")
            assert response.status_code == 200
            assert response.json()["tenant"] == "healthy"
        assert server.request("GET", "/readyz").json() == {"status": "ready"}
        assert requests_ok(server)


def requests_ok(server) -> bool:
    """The management listener and the traffic port both still answer probes."""
    return requests.get(server.management_url("/readyz"), timeout=1).status_code == 200 \
        and server.request("GET", "/healthz").status_code == 200
