"""Declared workspaces (contract sec. 15): a tenant that lists them accepts only those in
X-Workspace; without a list, any valid workspace id. Both store backends."""
from __future__ import annotations

import pytest

from tests.support.tenant_folders import ADMIN
from tests.support.tenant_folders import app  # noqa: F401 (the fixture: both backends)


def health(client, tenant, workspace=None):
    headers = {} if workspace is None else {"X-Workspace": workspace}
    return client.get(f"/t/{tenant}/health", headers=headers)


def test_a_declared_list_restricts_x_workspace(client):
    body = {"workspaces": ["main", "exams"]}
    assert client.put("/admin/tenants/acme", json=body, headers=ADMIN).status_code == 201
    assert client.put("/admin/tenants/open", json={}, headers=ADMIN).status_code == 201
    for workspace in (None, "main", "exams"):
        assert health(client, "acme", workspace).status_code == 200
    refused = health(client, "acme", "grading")
    assert refused.status_code == 404
    assert refused.get_json() == {"error": "unknown_workspace"}
    for workspace in (None, "grading", "anything-else"):
        assert health(client, "open", workspace).status_code == 200
    assert health(client, "open", "Not_Valid").status_code == 400  # still a DNS label


def test_a_change_of_the_list_is_live_at_the_next_request(client):
    client.put("/admin/tenants/acme", json={"workspaces": ["exams"]}, headers=ADMIN)
    assert health(client, "acme").status_code == 404  # no header: main, not declared
    assert health(client, "acme", "exams").status_code == 200
    client.put("/admin/tenants/acme", json={"workspaces": ["main"]}, headers=ADMIN)
    assert health(client, "acme").status_code == 200
    assert health(client, "acme", "exams").status_code == 404
    client.put("/admin/tenants/acme", json={}, headers=ADMIN)  # omitted: any again
    assert health(client, "acme", "exams").status_code == 200
    shown = client.get("/admin/tenants/acme", headers=ADMIN).get_json()
    assert shown["workspaces"] is None


@pytest.mark.parametrize("workspaces", [[], ["Main"], ["a", "a"], "main", [1],
                                        [f"w{i}" for i in range(33)]])
def test_a_bad_list_is_refused_and_changes_nothing(client, workspaces):
    answer = client.put("/admin/tenants/acme", json={"workspaces": workspaces}, headers=ADMIN)
    assert answer.status_code == 400
    assert answer.get_json()["error"] == "invalid_body"
    assert "workspaces" in answer.get_json()["fields"]
    assert client.get("/admin/tenants/acme", headers=ADMIN).status_code == 404
