"""LIMIT_BACKEND=postgres under contention: requests of two tenants on two hosts (2 workers
x 8 threads each) race for the same permits, waiting and retrying whole chains, and
never more hold a limit at once than its capacity, tenant or fleet-wide (contract sec. 6).
The holders are counted by the requests themselves (tests/support/holders_wsgi.py)."""
from __future__ import annotations

import json
from collections import Counter

import pytest

from tests.multihost.hosts import hosts, put_tenant, together

pytestmark = pytest.mark.gunicorn

TENANTS = ("exact-a", "exact-b")
TENANT_CAPACITY = 2
GLOBAL_CAPACITY = 3  # less than the two tenants' 4 together: the global step is contended


def test_no_more_holders_than_the_capacity_across_hosts(tmp_path, postgres_url):
    holders = tmp_path / "holders.json"
    env = {"LIMIT_BACKEND": "postgres", "TENANT_MAX_THREAD_SHARE": "1",
           "LIMIT_WAIT_SECONDS": "5", "GLOBAL_LIMIT_LLM_STUDENT": str(GLOBAL_CAPACITY),
           "HOLDERS_FILE": str(holders)}
    with hosts(tmp_path, postgres_url, env=env,
               app_module="tests.support.holders_wsgi:app") as (a, b):
        for tenant in TENANTS:
            body = {"limits": {"llm_student": TENANT_CAPACITY}}
            assert put_tenant(a, tenant, body).status_code == 201
        calls = [lambda s=server, t=tenant: s.request(
                     "POST", f"/t/{t}/count/hold/llm_student?ms=300", timeout=60)
                 for server in (a, b) for tenant in TENANTS for _ in range(6)]
        answers = together(calls)
        statuses = Counter(r.status_code for r in answers)
        assert set(statuses) <= {200, 429, 503}, [r.text for r in answers]
        for response in answers:
            if response.status_code != 200:
                assert response.json()["error"] == "concurrency_limit", response.text

    counts = json.loads(holders.read_text())
    assert counts["admitted"]["global:llm_student"] == statuses[200]
    assert all(n == 0 for n in counts["now"].values()), counts
    # 24 requests at once, 300 ms each: the fleet-wide limit filled, and never overflowed.
    assert counts["max"]["global:llm_student"] == GLOBAL_CAPACITY, counts
    for tenant in TENANTS:
        assert 1 <= counts["max"][f"tenant:{tenant}:llm_student"] <= TENANT_CAPACITY, counts
