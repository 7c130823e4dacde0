"""A folder of tenants applied over HTTP on two hosts on one PostgreSQL store: live on the
other host at its next request, and the same folder sent to both at once converges, each
tenant created once (contract sec. 15 with sec. 10)."""
from __future__ import annotations

import pytest

from tests.multihost.hosts import ADMIN, hosts, together

pytestmark = pytest.mark.gunicorn

FOLDER = {f"fleet{i:02d}": {"limits": {"ocr": 1 + i % 3}, "workspaces": ["main", "exams"]}
          for i in range(10)}


@pytest.fixture(scope="module")
def pair(tmp_path_factory, postgres_server):
    url, home = postgres_server.create_database(), tmp_path_factory.mktemp("apply-hosts")
    with hosts(home, url, env={"DEFAULT_TENANT": ""}) as servers:
        yield servers


def apply(server, tenants, **flags):
    answer = server.request("POST", "/admin/apply", json={"tenants": tenants, **flags},
                            headers=ADMIN)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_the_same_folder_sent_to_both_hosts_at_once_converges(pair):
    a, b = pair
    answers = together([lambda: apply(a, FOLDER), lambda: apply(b, FOLDER)])
    outcomes = {}
    for answer in answers:
        assert answer["complete"]
        for step in answer["steps"]:
            outcomes.setdefault(step["tenant"], []).append(step["outcome"])
    assert all(sorted(o) == ["created", "unchanged"] for o in outcomes.values()), outcomes
    log = b.request("GET", "/admin/audit", params={"limit": 1000}, headers=ADMIN).json()
    creates = [e["tenant"] for e in log["entries"] if e["action"] == "create"]
    assert sorted(creates) == sorted(FOLDER)  # once each, whichever host made it
    again = apply(b, FOLDER)
    assert {s["outcome"] for s in again["steps"]} == {"unchanged"}


def test_an_apply_on_one_host_is_live_on_the_other_at_its_next_request(pair):
    a, b = pair
    apply(a, {**FOLDER, "fleet00": {"workspaces": ["main"]}})
    for _ in range(4):  # new connections: either worker of B
        assert b.request("GET", "/t/fleet00/health",
                         headers={"X-Workspace": "exams"}).status_code == 404
        assert b.request("GET", "/t/fleet01/health",
                         headers={"X-Workspace": "exams"}).status_code == 200
    pruned = apply(a, {"fleet01": FOLDER["fleet01"]}, prune=True, dry_run=True)
    assert sorted(s["outcome"] for s in pruned["steps"]) == ["disabled"] * 9 + ["unchanged"]
    assert b.request("GET", "/t/fleet02/health").status_code == 200  # a dry run wrote nothing
    apply(b, {"fleet01": FOLDER["fleet01"]}, prune=True)
    for _ in range(4):
        assert a.request("GET", "/t/fleet02/health").json() == {"error": "tenant_disabled"}
        assert a.request("GET", "/t/fleet01/health").status_code == 200
