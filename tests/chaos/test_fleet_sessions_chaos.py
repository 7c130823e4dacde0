"""Chaos: every limits session of the fleet is terminated (as a PostgreSQL restart or a DBA
would) while permits are held, with LIMIT_BACKEND=postgres on two hosts.

The permits go with the sessions; no request fails for it (each thread opens a new
session on its next permit), readiness does not move, another tenant keeps being served,
and the limit is exact again: 12 holds at once admit the tenant's 2 (contract sec. 6, 10).
"""
from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest

from app.limits.pg_session import APPLICATION_NAME
from tests.multihost.hosts import hosts, put_tenant, together
from tests.support.metrics_text import scrape, value, wait_for_metric

pytestmark = [pytest.mark.chaos, pytest.mark.gunicorn]

ENV = {"LIMIT_BACKEND": "postgres", "CHAOS_ENABLED": "1", "TENANT_MAX_THREAD_SHARE": "1"}
HOLD = "/t/fleet/chaos/hold/llm_student?ms={ms}"


def hold(server, ms: int):
    return server.request("POST", HOLD.format(ms=ms), timeout=60)


def terminate_limits_sessions(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                            "WHERE application_name = %s AND datname = current_database()",
                            (APPLICATION_NAME,)).fetchone()[0]


def readiness(server) -> tuple:
    text = scrape(server)
    return (server.request("GET", "/readyz").status_code, value(text, "readiness_state"),
            value(text, "readiness_transitions_total"))


def test_terminated_limits_sessions_fail_no_request_and_the_limit_recovers(
        tmp_path, postgres_url):
    with hosts(tmp_path, postgres_url, env=ENV) as (a, b):
        assert put_tenant(a, "fleet", {"limits": {"llm_student": 2}}).status_code == 201
        assert put_tenant(a, "calm").status_code == 201
        before = [readiness(server) for server in (a, b)]
        assert [r[0] for r in before] == [200, 200]

        with ThreadPoolExecutor(2) as pool:
            long_holds = [pool.submit(hold, a, 4000) for _ in range(2)]
            wait_for_metric(b, 2, "tenant_limit_inflight", tenant="fleet", limit="llm_student")
            assert terminate_limits_sessions(postgres_url) >= 2
            # The locks went with the sessions: the fleet sees the permits back ...
            wait_for_metric(b, 0, "tenant_limit_inflight", tenant="fleet", limit="llm_student")
            # ... and the threads whose sessions died take permits on new ones, unfailed.
            assert [hold(server, 0).status_code for server in (a, b, a, b)] == [200] * 4
            assert [h.result(timeout=60).status_code for h in long_holds] == [200, 200]

        answers = together([lambda s=s: hold(s, 1500) for s in [a, b] * 6])
        assert Counter(r.status_code for r in answers) == {200: 2, 429: 10}, \
            [r.text for r in answers]
        for server in (a, b):
            assert server.request("GET", "/t/calm/health").status_code == 200
        assert [readiness(server) for server in (a, b)] == before
