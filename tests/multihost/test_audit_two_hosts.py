"""The audit log across two hosts (gunicorn, 2 workers each) on one PostgreSQL store:
every change, made on either host by either worker, is recorded once, with its actor,
and both hosts answer the same log (contract sec. 15 with sec. 10)."""
from __future__ import annotations

import hashlib

import pytest

from tests.multihost.hosts import API_KEY, hosts, set_ready, together

pytestmark = pytest.mark.gunicorn

KEYS = ("two-hosts-audit-key-a1", "two-hosts-audit-key-b2")  # rotation: both accepted
ON_A, ON_B = ({"X-Admin-Key": key} for key in KEYS)


def actor(key: str) -> str:
    return "key:" + hashlib.sha256(key.encode()).hexdigest()[:8]


@pytest.fixture(scope="module")
def pair(tmp_path_factory, postgres_server):
    url, home = postgres_server.create_database(), tmp_path_factory.mktemp("audit-hosts")
    with hosts(home, url, env={"TENANT_ADMIN_KEY": ",".join(KEYS),
                               "DEFAULT_TENANT": ""}) as servers:
        yield servers
        logs = [server.log() for server in servers]
    for key in (*KEYS, API_KEY):
        assert all(key not in log for log in logs)


def log_of(server, **query) -> list[tuple]:
    answer = server.request("GET", "/admin/audit", params={"limit": 1000, **query},
                            headers=ON_A)
    assert answer.status_code == 200, answer.text
    return [(e["action"], e["tenant"], e["fields"], e["actor"])
            for e in reversed(answer.json()["entries"])]


def test_each_change_on_either_host_is_recorded_once_with_its_actor(pair):
    a, b = pair
    steps = [
        (a, "PUT", "/admin/tenants/acme", {"hosts": ["acme.example"]}, ON_A),
        (b, "PUT", "/admin/tenants/acme", {"hosts": ["acme.example"], "limits": {"ocr": 2}},
         ON_B),
        (a, "POST", "/admin/tenants/acme/recheck", None, ON_B),
        (b, "DELETE", "/admin/tenants/acme", None, ON_A),
        (a, "POST", "/admin/apply", {"tenants": {"acme": {}, "beta": {"extra": {"x": 1}}}},
         ON_B),
        (b, "DELETE", "/admin/tenants/beta?purge=1", None, ON_B),
    ]
    for server, method, path, body, headers in steps:
        answer = server.request(method, path, json=body, headers=headers)
        assert answer.status_code in (200, 201), answer.text
    assert set_ready(b, "acme", False).status_code == 200

    expected = [
        ("create", "acme", ["hosts"], actor(KEYS[0])),
        ("update", "acme", ["limits"], actor(KEYS[1])),
        ("recheck", "acme", ["health"], actor(KEYS[1])),
        ("disable", "acme", ["enabled"], actor(KEYS[0])),
        ("update", "acme", ["enabled", "hosts", "limits"], actor(KEYS[1])),
        ("create", "beta", ["extra"], actor(KEYS[1])),
        ("purge", "beta", [], actor(KEYS[1])),
        ("readiness_override", "acme", ["ready"], actor(API_KEY)),
    ]
    assert log_of(a) == expected
    assert log_of(b) == expected
    assert log_of(b, tenant="beta") == expected[5:7]


def test_concurrent_changes_on_both_hosts_are_each_recorded_once(pair):
    a, b = pair
    calls = [lambda i=i, s=s, h=h: s.request("PUT", f"/admin/tenants/many{i:02d}",
                                             json={"limits": {"ocr": 1 + i}}, headers=h)
             for i, (s, h) in enumerate([(a, ON_A), (b, ON_B)] * 6)]
    assert all(r.status_code == 201 for r in together(calls))
    created = [e for e in log_of(a) if e[1].startswith("many")]
    assert sorted(e[1] for e in created) == [f"many{i:02d}" for i in range(12)]
    for action, tenant, fields, who in created:
        index = int(tenant[4:])
        assert (action, fields) == ("create", ["limits"])
        assert who == actor(KEYS[index % 2])
    assert log_of(b) == log_of(a)
