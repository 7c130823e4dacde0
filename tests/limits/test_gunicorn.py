"""Limits under a real gunicorn: exact across worker processes, and a killed worker's
permits come back (contract sec. 6)."""
from __future__ import annotations

import os
import signal
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.support.metrics_text import value, wait_for_metric
from tests.support.polling import poll
from tests.support.server import running_server

pytestmark = pytest.mark.gunicorn

KEY = "gunicorn-limits-key-41e8"
ADMIN = {"X-Admin-Key": KEY}
# The share of threads per tenant out of the way: these tests count the tenant limits.
ENV = {"TENANT_ADMIN_KEY": KEY, "CHAOS_ENABLED": "1", "TENANT_MAX_THREAD_SHARE": "1"}
TIMEOUT = 30.0


def create_tenant(server, tenant: str) -> None:
    assert server.put(f"/admin/tenants/{tenant}", json={}, headers=ADMIN).status_code == 201
    assert server.get(f"/t/{tenant}/health").status_code == 200


def post(server, path: str, timeout: float = TIMEOUT) -> requests.Response:
    # Every request a new connection, accepted by any worker.
    return server.request("POST", path, timeout=timeout)


def burst(server, paths: list[str]) -> list[requests.Response]:
    barrier = threading.Barrier(len(paths))

    def send(path):
        barrier.wait(timeout=TIMEOUT)
        return post(server, path)

    with ThreadPoolExecutor(len(paths)) as pool:
        return list(pool.map(send, paths, timeout=TIMEOUT * 2))


def wait_for_workers(server, count: int, not_in: frozenset = frozenset()) -> list[int]:
    """Bounded poll: ``count`` workers, none of them in ``not_in`` (killed ones replaced)."""
    pids = poll(server.worker_pids, lambda pids: len(pids) == count and not set(pids) & not_in,
                TIMEOUT)
    assert len(pids) == count and not set(pids) & not_in, (pids, not_in)
    return pids


@pytest.mark.parametrize("workers", [1, 4])
def test_a_tenant_limit_admits_the_same_number_whatever_the_worker_count(tmp_path, workers):
    with running_server(tmp_path, workers=workers, env=ENV) as server:
        wait_for_workers(server, workers)
        create_tenant(server, "a")
        answers = burst(server, ["/t/a/chaos/hold/llm_student?ms=1500"] * 12)

        assert Counter(r.status_code for r in answers) == {200: 2, 429: 10}, \
            [r.text for r in answers]
        for response in answers:
            if response.status_code == 200:
                assert response.json() == {"tenant": "a", "limit": "llm_student",
                                           "held_ms": 1500}
            else:
                assert response.json() == {"error": "concurrency_limit", "scope": "tenant",
                                           "limit": "llm_student"}
                assert int(response.headers["Retry-After"]) >= 1
        text = wait_for_metric(server, 10, "tenant_limit_rejections_total", tenant="a",
                               limit="llm_student", scope="tenant")
        assert value(text, "tenant_limit_inflight", tenant="a", limit="llm_student") == 0
        assert value(text, "global_limit_inflight", limit="llm_student") == 0


def test_permits_held_by_sigkilled_workers_come_back(tmp_path):
    with running_server(tmp_path, workers=4, env=ENV) as server:
        create_tenant(server, "a")

        def long_hold():
            try:
                return post(server, "/t/a/chaos/hold/llm_student?ms=20000").status_code
            except requests.RequestException as exc:  # its worker is killed mid-request
                return type(exc).__name__

        with ThreadPoolExecutor(2) as pool:
            holds = [pool.submit(long_hold) for _ in range(2)]
            wait_for_metric(server, 2, "tenant_limit_inflight", tenant="a", limit="llm_student")
            assert post(server, "/t/a/chaos/hold/llm_student?ms=0").status_code == 429
            killed = wait_for_workers(server, 4)
            for pid in killed:
                os.kill(pid, signal.SIGKILL)
            outcomes = [hold.result(timeout=TIMEOUT) for hold in holds]
        assert 200 not in outcomes, outcomes  # they really were cut off mid-hold

        text = wait_for_metric(server, 0, "tenant_limit_inflight", tenant="a",
                               limit="llm_student")
        assert value(text, "tenant_limit_inflight", tenant="a", limit="llm_total") == 0
        assert value(text, "global_limit_inflight", limit="llm_student") == 0
        wait_for_workers(server, 4, not_in=frozenset(killed))  # gunicorn replaced them all

        # Both permits are free again, at the same time.
        again = burst(server, ["/t/a/chaos/hold/llm_student?ms=300"] * 2)
        assert [r.status_code for r in again] == [200, 200], [r.text for r in again]
        assert all(r.json() == {"tenant": "a", "limit": "llm_student", "held_ms": 300}
                   for r in again)
