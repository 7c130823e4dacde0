"""Scheduled rechecks on two hosts sharing PostgreSQL (contract sec. 12): one recheck per
tenant per interval for the fleet, claimed through the store."""
from __future__ import annotations

import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.multihost.hosts import ADMIN, POLL_TIMEOUT, hosts, put_tenant
from tests.support.metrics_text import scrape, total, value
from tests.support.polling import poll, wait_until

pytestmark = pytest.mark.gunicorn

WINDOW = 10.0
ENV = {"RECHECK_SECONDS": "1", "RECHECK_MAX_SECONDS": "2", "TENANT_MAX_THREAD_SHARE": "1",
       # For the hung validator below: a tenant's extra.chaos takes effect only with it.
       "CHAOS_ENABLED": "1", "VALIDATOR_TIMEOUT_SECONDS": "1"}
HANG = {"extra": {"chaos": {"validator": "hang", "seconds": 60}}}


@pytest.fixture(scope="module")
def pair(tmp_path_factory, postgres_server):
    url, home = postgres_server.create_database(), tmp_path_factory.mktemp("rechecks")
    with hosts(home, url, workers=2, env=ENV) as (a, b):
        yield a, b


def load_everywhere(servers, tenant: str) -> None:
    """Requests on fresh connections to each host until every worker has loaded it."""
    def one(server):
        return server.request("GET", f"/t/{tenant}/health",
                              headers={"Connection": "close"}).status_code

    with ThreadPoolExecutor(8) as pool:
        assert set(pool.map(one, servers * 30)) == {200}


def fleet_rechecks(servers, **labels) -> float:
    """tenant_rechecks_total{labels} summed over every worker of every host."""
    texts = [poll(lambda s=s: scrape(s), lambda text: text is not None) for s in servers]
    assert all(text is not None for text in texts)
    return sum(total(text, "tenant_rechecks_total", **labels) for text in texts)


def state_of(server, tenant: str) -> str:
    return server.request("GET", f"/admin/tenants/{tenant}",
                          headers=ADMIN).json()["health"]["state"]


def test_two_hosts_recheck_a_tenant_about_once_per_interval(pair):
    a, b = pair
    assert put_tenant(a, "acme").status_code == 201
    load_everywhere([a, b], "acme")
    before, began = fleet_rechecks([a, b]), time.monotonic()
    wait_until(lambda: time.monotonic() - began >= WINDOW, WINDOW + 5)
    runs = fleet_rechecks([a, b]) - before
    print(f"validator runs of one tenant over {WINDOW:g}s on 2 hosts x 2 workers: {runs:g}")
    assert 6 <= runs <= 13, runs  # about 10 for the fleet, not 10 per worker or per host


def test_a_vanished_directory_heals_on_both_hosts_with_no_operator(pair):
    a, b = pair
    assert put_tenant(a, "beta").status_code == 201
    load_everywhere([a, b], "beta")
    data_dir = Path(a.request("GET", "/admin/tenants/beta", headers=ADMIN).json()["data_dir"])
    shutil.rmtree(data_dir)
    assert wait_until(lambda: state_of(b, "beta") == "unverified", POLL_TIMEOUT)
    assert b.request("GET", "/t/beta/health").status_code == 200
    data_dir.mkdir()
    assert wait_until(lambda: state_of(a, "beta") == "healthy", POLL_TIMEOUT)
    assert a.request("GET", "/t/beta/health").status_code == 200


@pytest.mark.chaos
def test_a_hung_validator_on_one_tenant_delays_no_other_tenants_rechecks(pair):
    a, b = pair
    for earlier in ("acme", "beta"):  # the other tests' tenants: only steady is counted
        assert a.request("DELETE", f"/admin/tenants/{earlier}?purge=1",
                         headers=ADMIN).status_code in (200, 404)
    readyz = [s.request("GET", "/readyz").json() for s in (a, b)]
    assert put_tenant(a, "steady").status_code == 201
    assert put_tenant(a, "hung", HANG).status_code == 201
    load_everywhere([a, b], "steady")
    for server in (a, b):  # pending, then unavailable: the validator never returns
        assert server.request("GET", "/t/hung/health").status_code == 503
    assert wait_until(lambda: fleet_rechecks([a, b], result="timeout") >= 1, POLL_TIMEOUT)
    before, began = fleet_rechecks([a, b], result="ok"), time.monotonic()
    wait_until(lambda: time.monotonic() - began >= WINDOW, WINDOW + 5)
    runs = fleet_rechecks([a, b], result="ok") - before
    print(f"rechecks of a healthy tenant over {WINDOW:g}s on 2 hosts beside a hung one: "
          f"{runs:g}")
    assert 6 <= runs <= 13, runs  # about one per second for the fleet, as without it
    assert value(scrape(a) or "", "readiness_state") == 1
    assert [s.request("GET", "/readyz").json() for s in (a, b)] == readyz
    assert b.request("GET", "/t/steady/health").status_code == 200
