"""POST /admin/apply (contract sec. 15 over HTTP) through the test client, both backends."""
from __future__ import annotations

import pytest

from tests.support.tenant_folders import ADMIN, ADMIN_KEY, CAP, fingerprint, stored
from tests.support.tenant_folders import app  # noqa: F401 (the fixture: both backends)


def post(client, body):
    return client.post("/admin/apply", json=body, headers=ADMIN)


def outcomes(answer) -> list[tuple]:
    return [(s["tenant"], s["outcome"], s["fields"]) for s in answer.get_json()["steps"]]


def test_apply_creates_updates_and_leaves_the_rest(client, store):
    first = post(client, {"tenants": {"acme": {"limits": {"ocr": 2}}, "beta": {}}})
    assert first.status_code == 200 and first.get_json()["complete"] is True
    assert outcomes(first) == [("acme", "created", ["limits"]), ("beta", "created", [])]
    second = post(client, {"tenants": {"acme": {"limits": {"ocr": 3}}, "beta": {}}})
    assert outcomes(second) == [("acme", "updated", ["limits"]), ("beta", "unchanged", [])]
    actors = {e.actor for e in store.audit.entries()}
    assert actors == {fingerprint(ADMIN_KEY)}


def test_a_dry_run_with_prune_answers_the_plan_and_writes_nothing(client, store):
    post(client, {"tenants": {"acme": {}, "old": {}}})
    before, version = stored(store), store.version()
    answer = post(client, {"tenants": {"acme": {"hosts": ["a.example"]}, "new": {}},
                           "prune": True, "dry_run": True})
    assert answer.get_json()["dry_run"] is True
    assert outcomes(answer) == [("acme", "updated", ["hosts"]), ("new", "created", []),
                                ("old", "disabled", ["enabled"])]
    assert (stored(store), store.version()) == (before, version)
    pruned = post(client, {"tenants": {"acme": {}}, "prune": True})
    assert outcomes(pruned) == [("acme", "unchanged", []), ("old", "disabled", ["enabled"])]
    assert stored(store)["old"]["enabled"] is False


def test_an_invalid_body_names_each_problem_and_writes_nothing(client, store):
    answer = post(client, {"tenants": {"acme": {"limits": {"ocr": -1}}, "Bad": {},
                                       "beta": {"data_dir": "/etc"}, "fine": {}}})
    assert answer.status_code == 400
    body = answer.get_json()
    assert body["error"] == "invalid_tenants"
    found = {(p["tenant"], p["field"]) for p in body["problems"]}
    assert found == {("Bad", None), ("acme", "limits.ocr.value"), ("beta", "data_dir")}
    assert stored(store) == {} and store.audit.entries() == []


@pytest.mark.parametrize("body", [{}, {"tenants": []}, {"tenants": {"a": []}},
                                  {"tenants": {}, "prune": "yes"},
                                  {"tenants": {}, "dry_run": 1}, {"tenants": {}, "x": 1}])
def test_a_malformed_request_is_a_400(client, store, body):
    answer = post(client, body)
    assert answer.status_code == 400 and answer.get_json()["error"] == "invalid_body"
    assert stored(store) == {}


def test_tenants_over_the_cap_are_answered_not_created(client, store):
    names = [f"t{i}" for i in range(CAP + 1)]
    answer = post(client, {"tenants": {n: {} for n in names}})
    assert answer.status_code == 200 and answer.get_json()["complete"] is False
    steps = answer.get_json()["steps"]
    assert [s["outcome"] for s in steps] == ["created"] * CAP + ["over_cap"]
    assert "MAX_TENANT_LABELS" in steps[-1]["detail"]
    assert sorted(stored(store)) == names[:CAP]
