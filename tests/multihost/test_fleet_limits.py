"""LIMIT_BACKEND=postgres: a tenant's limit holds across every host, and a host that dies
gives its permits back when its sessions end (contract sec. 6 and 10)."""
from __future__ import annotations

import os
import signal
import tempfile
import timeit
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.multihost.hosts import POLL_TIMEOUT, hosts, put_tenant, together
from tests.support.metrics_text import scrape, value, wait_for_metric
from tests.support.polling import wait_until

pytestmark = pytest.mark.gunicorn

# The share of threads per tenant out of the way: these tests count the tenant limits.
ENV = {"LIMIT_BACKEND": "postgres", "CHAOS_ENABLED": "1", "TENANT_MAX_THREAD_SHARE": "1"}
HOLD = "/t/fleet/chaos/hold/llm_student?ms={ms}"
HELD = {"tenant": "fleet", "limit": "llm_student"}
REFUSED = {"error": "concurrency_limit", "scope": "tenant", "limit": "llm_student"}


def hold(server, ms: int, timeout: float = 30.0) -> requests.Response:
    return server.request("POST", HOLD.format(ms=ms), timeout=timeout)


def inflight(server, limit: str = "llm_student") -> float | None:
    text = scrape(server)
    return None if text is None else value(text, "tenant_limit_inflight", tenant="fleet",
                                           limit=limit)


def test_a_tenant_limit_holds_across_hosts_and_a_dead_host_gives_its_permits_back(
        tmp_path, postgres_url):
    with hosts(tmp_path, postgres_url, env=ENV) as (a, b):
        assert put_tenant(a, "fleet", {"limits": {"llm_student": 2}}).status_code == 201
        for server in (a, b):
            assert server.request("GET", "/t/fleet/health").status_code == 200

        # 12 at once, 6 per host: the fleet admits exactly the tenant's 2.
        answers = together([lambda s=s: hold(s, 1500) for s in [a, b] * 6])
        assert Counter(r.status_code for r in answers) == {200: 2, 429: 10}, \
            [r.text for r in answers]
        for response in answers:
            expected = {**HELD, "held_ms": 1500} if response.status_code == 200 else REFUSED
            assert response.json() == expected
        for server in (a, b):
            text = wait_for_metric(server, 10, "tenant_limit_rejections_total", tenant="fleet",
                                   limit="llm_student", scope="tenant")
            assert value(text, "tenant_limit_inflight", tenant="fleet", limit="llm_student") == 0

        # Two long holds on host A only; host B sees them, and is refused a third.
        def long_hold():
            try:
                return hold(a, 20000, timeout=40).status_code
            except requests.RequestException as exc:  # host A is killed mid-hold
                return type(exc).__name__

        with ThreadPoolExecutor(2) as pool:
            holds = [pool.submit(long_hold) for _ in range(2)]
            try:
                wait_for_metric(b, 2, "tenant_limit_inflight", tenant="fleet",
                                limit="llm_student")
                assert hold(b, 0).status_code == 429
                assert inflight(b, "llm_total") == 2
                os.killpg(a.process.pid, signal.SIGKILL)  # master and workers at once
                a.process.wait(timeout=30)
            finally:
                outcomes = [h.result(timeout=60) for h in holds]
        assert 200 not in outcomes, outcomes  # they really were cut off mid-hold

        # A's sessions ended with its processes: B sees the permits back and can use both.
        text = wait_for_metric(b, 0, "tenant_limit_inflight", tenant="fleet",
                               limit="llm_student")
        assert value(text, "tenant_limit_inflight", tenant="fleet", limit="llm_total") == 0
        assert value(text, "global_limit_inflight", limit="llm_student") == 0
        pair: list = []

        def both_admitted() -> bool:
            pair[:] = together([lambda: hold(b, 0), lambda: hold(b, 0)])
            return [r.status_code for r in pair] == [200, 200]

        assert wait_until(both_admitted, POLL_TIMEOUT), \
            "timed out waiting for two concurrent holds admitted on host B"
        assert [r.json() for r in pair] == [{**HELD, "held_ms": 0}] * 2


def per_hold_us(limiter, tenant: str, number: int, runs: int = 5) -> float:
    """Median cost, in microseconds, of one uncontended hold of llm_student (4 permits)."""
    def once():
        with limiter.hold(tenant, {}, "llm_student"):
            pass

    once()  # connect / open the slot files outside the measurement
    times = timeit.repeat(once, number=number, repeat=runs)
    return sorted(times)[len(times) // 2] / number * 1e6


def test_acquire_release_cost_of_one_pair_on_both_backends(postgres_url, capsys):
    """Prints the cost (no assertion on time): one hold = tenant llm_total, tenant
    llm_student, global llm_total, global llm_student, then the four releases."""
    from app.limits.limiter import Limiter
    from app.limits.local import LocalBackend
    from app.limits.postgres import PostgresBackend
    from app.limits.rejections import RejectionCounter
    from app.settings import Settings

    settings = Settings()
    counter = RejectionCounter(store=None)  # nothing is refused: the store is never used
    with tempfile.TemporaryDirectory(prefix="tenantgate-bench-") as directory:
        local = Limiter(LocalBackend(directory), settings, counter)
        fleet = Limiter(PostgresBackend(postgres_url), settings, counter)
        try:
            costs = {"local": per_hold_us(local, "bench", 500),
                     "postgres": per_hold_us(fleet, "bench", 40)}
            # Every permit came back on both backends.
            for limiter in (local, fleet):
                for owner, limit in (("bench", "llm_student"), ("bench", "llm_total"),
                                     ("_global", "llm_student"), ("_global", "llm_total")):
                    assert limiter.backend.inflight(owner, limit, 100) == 0
        finally:
            local.backend.remove()
            fleet.backend.close()
    with capsys.disabled():
        print(f"\nacquire+release of one llm_student pair (4 permits): "
              f"local {costs['local']:.1f} us, postgres {costs['postgres']:.1f} us "
              f"({costs['postgres'] / costs['local']:.0f}x)")
