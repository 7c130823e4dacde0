"""Two hosts (gunicorn, 2 workers each) on one PostgreSQL store and one data root: every
guarantee of sections 4, 5 and 7 holds across hosts (contract sec. 10)."""
from __future__ import annotations

import json
from collections import Counter

import pytest

from tests.multihost.hosts import ADMIN, POLL_TIMEOUT, hosts, put_tenant, set_ready, together
from tests.support.metrics_text import label_values, samples, scrape, value, wait_for_metric
from tests.support.polling import wait_until

pytestmark = pytest.mark.gunicorn

PROBES = 6  # probes per check, each on a new connection, so both workers of a host answer


@pytest.fixture(scope="module")
def pair(tmp_path_factory, postgres_server):
    """Hosts A and B on a database of their own, shared by this module's first tests."""
    url, home = postgres_server.create_database(), tmp_path_factory.mktemp("two-hosts")
    with hosts(home, url) as (a, b):
        yield a, b, home / "tenants"


def readyz(server, tenant: str) -> tuple[int, dict]:
    response = server.request("GET", f"/tenant/{tenant}/readyz")
    return response.status_code, response.json()


def test_a_tenant_created_on_one_host_is_served_by_the_other(pair):
    a, b, root = pair
    created = put_tenant(a, "acme", {"extra": {"plan": "gold"}})
    assert created.status_code == 201, created.text
    # The data root is shared: A made acme's directories, an operator adds an exam.
    exam = {"exam_id": "EX1", "title": "Algebra"}
    manifest = root / "acme" / "data" / "exams" / "EX1"
    manifest.mkdir(parents=True)
    (manifest / "manifest.json").write_text(json.dumps(exam))

    # B's very next requests serve it, on either worker.
    for _ in range(PROBES):
        health = b.request("GET", "/t/acme/health")
        assert health.status_code == 200, health.text
        assert health.json()["status"] == "ok" and health.json()["tenant"] == "acme"
        exams = b.request("GET", "/t/acme/exams")
        assert exams.status_code == 200, exams.text
        assert exams.json() == {"tenant": "acme", "exams": [exam]}
    on_b = b.request("GET", "/admin/tenants/acme", headers=ADMIN)
    assert on_b.status_code == 200 and on_b.json()["extra"] == {"plan": "gold"}
    assert b.request("GET", "/t/nobody/health").json() == {"error": "unknown_tenant"}


def test_a_config_change_on_one_host_is_live_on_the_other_at_its_next_request(pair):
    a, b, _ = pair
    assert put_tenant(a, "beta").status_code == 201
    assert b.request("GET", "/t/beta/health").status_code == 200

    assert a.request("DELETE", "/admin/tenants/beta", headers=ADMIN).status_code == 200
    for _ in range(PROBES):
        disabled = b.request("GET", "/t/beta/health")
        assert (disabled.status_code, disabled.json()) == (503, {"error": "tenant_disabled"})

    assert put_tenant(b, "beta", {"hosts": ["beta.example"]}).status_code == 200
    for _ in range(PROBES):
        by_host = a.request("GET", "/health", headers={"Host": "beta.example"})
        assert by_host.status_code == 200 and by_host.json()["tenant"] == "beta", by_host.text

    purged = b.request("DELETE", "/admin/tenants/beta?purge=1", headers=ADMIN)
    assert purged.status_code == 200
    for _ in range(PROBES):
        assert a.request("GET", "/t/beta/health").status_code == 404
        assert a.request("GET", "/admin/tenants/beta", headers=ADMIN).status_code == 404


def test_set_ready_on_one_host_is_answered_by_the_other(pair):
    a, b, _ = pair
    steps = [(a, b, False, 503, "not ready", "override"),
             (b, a, True, 200, "ready", "override"),
             (a, b, None, 200, "ready", "inherited"),
             (b, a, False, 503, "not ready", "override")]
    for writer, reader, ready, code, status, reason in steps:
        response = set_ready(writer, "gamma", ready)
        assert response.status_code == 200, response.text
        assert response.json()["status"] == status
        expected = (code, {"tenant": "gamma", "status": status, "reason": reason})
        assert [readyz(reader, "gamma") for _ in range(PROBES)] == [expected] * PROBES
        assert readyz(writer, "gamma") == expected
    # Setting the value already stored is no change, whichever host is asked.
    assert set_ready(a, "gamma", False).json()["changed"] is False


def tenant_series(text: str) -> dict:
    """Every store-derived tenant series: the tenant-labelled ones and the label counts."""
    store_names = {"tenant_labels_active", "tenant_labels_limit",
                   "tenant_label_rejections_total"}
    return {key: v for key, v in samples(text).items()
            if key[0] in store_names or "tenant" in dict(key[1])}


def test_tenant_metrics_are_the_same_on_both_hosts(pair):
    a, b, _ = pair
    for tenant, ready in (("delta", True), ("epsilon", False), ("zeta", None)):
        assert set_ready(a, tenant, ready).status_code == 200
    assert set_ready(b, "delta", False).status_code == 200
    texts: dict = {}

    def same() -> bool:
        # A scrape records observed readiness, so scrape until two rounds agree.
        texts["a"], texts["b"] = scrape(a), scrape(b)
        return None not in texts.values() and \
            tenant_series(texts["a"]) == tenant_series(texts["b"])

    assert wait_until(same, POLL_TIMEOUT), \
        "timed out waiting for the same tenant series on both hosts"
    text_a, text_b = texts["a"], texts["b"]
    for text in (text_a, text_b):
        # This module's other tests add tenants of their own to the shared store.
        assert {"delta", "epsilon", "zeta"} <= label_values(text, "tenant")
        assert value(text, "tenant_labels_active") == len(label_values(text, "tenant"))
        assert value(text, "tenant_readiness_state", tenant="delta") == 0
        assert value(text, "tenant_readiness_state", tenant="epsilon") == 0
        assert value(text, "tenant_readiness_state", tenant="zeta") == 1
        assert value(text, "tenant_readiness_transitions_total", tenant="delta") == 1


def test_fifty_creations_over_two_hosts_admit_exactly_the_cap(tmp_path, postgres_url):
    cap, per_host = 20, 25
    with hosts(tmp_path, postgres_url, env={"MAX_TENANT_LABELS": str(cap)}) as (a, b):
        calls = [lambda i=i, s=s: put_tenant(s, f"new{i:02d}")
                 for i, s in enumerate([a] * per_host + [b] * per_host)]
        responses = together(calls)
        codes = Counter(r.status_code for r in responses)
        assert codes == {201: cap, 429: 2 * per_host - cap}, [r.text for r in responses]
        for response in responses:
            if response.status_code == 429:
                assert response.json() == {"error": "label_cardinality_limit", "limit": cap}
        admitted = {f"new{i:02d}" for i, r in enumerate(responses) if r.status_code == 201}

        for server in (a, b):
            text = wait_for_metric(server, 2 * per_host - cap, "tenant_label_rejections_total")
            assert value(text, "tenant_labels_active") == cap
            assert value(text, "tenant_labels_limit") == cap
            assert label_values(text, "tenant") == admitted
            listed = server.request("GET", "/admin/tenants", headers=ADMIN).json()["tenants"]
            assert {t["tenant_id"] for t in listed} == admitted
        # Still exact afterwards: one more creation is refused on either host.
        assert put_tenant(a, "late-a").status_code == 429
        assert put_tenant(b, "late-b").status_code == 429
        for server in (a, b):
            wait_for_metric(server, 2 * per_host - cap + 2, "tenant_label_rejections_total")


def test_two_hosts_starting_at_once_register_the_default_tenant_once(tmp_path, postgres_url):
    with hosts(tmp_path, postgres_url, env={"DEFAULT_TENANT": "default"}) as (a, b):
        for server in (a, b):
            listed = server.request("GET", "/admin/tenants", headers=ADMIN).json()["tenants"]
            assert [t["tenant_id"] for t in listed] == ["default"]
            health = server.request("GET", "/health")
            assert (health.status_code, health.json()["tenant"]) == (200, "default")
