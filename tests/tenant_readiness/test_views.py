"""/tenant/<t>/readyz and /tenant/<t>/set_ready through the test client (contract sec. 2-4)."""
from __future__ import annotations

from app.services import services_of

import pytest

from tests.support.metrics_text import label_values, scrape, value
from tests.tenant_readiness.helpers import ADMIN, KEY, readyz, set_ready, transitions


def test_unknown_tenant_is_404_and_creates_no_label(client):
    assert readyz(client, "acme") == (404, {"tenant": "acme", "status": "unknown",
                                            "reason": "unknown_tenant"})
    text = scrape(client)
    assert label_values(text, "tenant") == set()
    assert value(text, "tenant_labels_active") == 0


@pytest.mark.parametrize("tenant", ["Acme", "..", "a" * 64, "a_b", "-acme", "acme-"])
@pytest.mark.parametrize("method", ["readyz", "set_ready"])
def test_invalid_tenant_id_is_400_before_any_state(client, tenant, method):
    if method == "readyz":
        response = client.get(f"/tenant/{tenant}/readyz")
    else:
        response = client.post(f"/tenant/{tenant}/set_ready", json={"ready": True}, headers=KEY)
    assert response.status_code == 400
    assert response.json == {"error": "invalid_tenant_id"}
    assert value(scrape(client), "tenant_labels_active") == 0


def test_longest_valid_tenant_id_is_accepted(client):
    tenant = "a" * 63
    assert set_ready(client, tenant, True).status_code == 200
    assert readyz(client, tenant)[0] == 200


@pytest.mark.parametrize("path, headers", [
    pytest.param("/tenant/acme/set_ready", {}, id="missing-key"),
    pytest.param("/tenant/acme/set_ready", {"X-API-Key": "nope"}, id="wrong-key"),
    pytest.param("/tenant/acme/set_ready", {"X-API-Key": ""}, id="empty-key"),
    pytest.param("/tenant/acme/set_ready", {"X-Admin-Key": "adm"}, id="admin-key-elsewhere"),
    pytest.param("/tenant/acme/set_ready?api_key=k1&X-API-Key=k1", {}, id="key-in-query"),
])
def test_set_ready_without_a_valid_key_header_is_401_and_changes_nothing(client, path,
                                                                         headers):
    response = client.post(path, json={"ready": False}, headers=headers)
    assert response.status_code == 401
    assert response.json == {"error": "unauthorized"}
    assert readyz(client, "acme")[0] == 404


@pytest.mark.parametrize("key", ["k1", "k2"])
def test_each_rotated_api_key_is_accepted(client, key):
    response = set_ready(client, "acme", False, headers={"X-API-Key": key})
    assert response.status_code == 200
    assert response.json == {"tenant": "acme", "status": "not ready", "changed": True}


@pytest.mark.parametrize("settings_overrides", [{"TENANT_API_KEY": None}], indirect=True)
@pytest.mark.parametrize("key", ["k1", "", "None"])
def test_no_api_key_configured_refuses_every_set_ready(client, key):
    response = set_ready(client, "acme", True, headers={"X-API-Key": key})
    assert response.status_code == 401
    assert response.json == {"error": "unauthorized"}


@pytest.mark.parametrize("kwargs, error", [
    pytest.param({"json": {}}, "invalid_body", id="missing-ready"),
    pytest.param({"json": {"ready": "yes"}}, "invalid_body", id="string-yes"),
    pytest.param({"json": {"ready": "true"}}, "invalid_body", id="string-true"),
    pytest.param({"json": {"ready": 1}}, "invalid_body", id="integer-1"),
    pytest.param({"json": {"ready": 0}}, "invalid_body", id="integer-0"),
    pytest.param({"json": {"ready": True, "force": True}}, "invalid_body", id="extra-field"),
    pytest.param({"json": [{"ready": True}]}, "invalid_body", id="json-list"),
    pytest.param({"json": True}, "invalid_body", id="json-scalar"),
    pytest.param({"data": "ready=true", "content_type": "text/plain"}, "invalid_body",
                 id="text-body"),
    pytest.param({"data": '{"ready": tru', "content_type": "application/json"},
                 "malformed_json", id="malformed-json"),
])
def test_bad_body_is_400_and_changes_nothing(client, kwargs, error):
    assert set_ready(client, "acme", False).status_code == 200
    for tenant in ("acme", "fresh"):
        response = client.post(f"/tenant/{tenant}/set_ready", headers=KEY, **kwargs)
        assert response.status_code == 400
        assert response.json["error"] == error
    assert readyz(client, "acme") == (503, {"tenant": "acme", "status": "not ready",
                                            "reason": "override"})
    assert readyz(client, "fresh")[0] == 404


@pytest.mark.parametrize("steps", [
    pytest.param([(True, "ready", True, "override"), (True, "ready", False, "override")],
                 id="true-twice"),
    pytest.param([(False, "not ready", True, "override"),
                  (False, "not ready", False, "override")], id="false-twice"),
    pytest.param([(True, "ready", True, "override"), (False, "not ready", True, "override"),
                  (None, "ready", True, "inherited"), (None, "ready", False, "inherited")],
                 id="true-false-null-null"),
    pytest.param([(None, "ready", False, "inherited")], id="null-on-new-tenant"),
])
def test_set_ready_semantics_and_changed_flag(client, steps):
    for ready, status, changed, reason in steps:
        response = set_ready(client, "acme", ready)
        assert response.status_code == 200
        assert response.json == {"tenant": "acme", "status": status, "changed": changed}
        code = 200 if status == "ready" else 503
        assert readyz(client, "acme") == (code, {"tenant": "acme", "status": status,
                                                 "reason": reason})


def test_disabled_tenant_is_not_ready_even_with_override(client):
    assert set_ready(client, "acme", True).status_code == 200
    assert client.delete("/admin/tenants/acme", headers=ADMIN).status_code == 200
    disabled = (503, {"tenant": "acme", "status": "not ready", "reason": "disabled"})
    assert readyz(client, "acme") == disabled
    response = set_ready(client, "acme", True)
    assert response.json == {"tenant": "acme", "status": "not ready", "changed": False}
    assert readyz(client, "acme") == disabled


@pytest.mark.parametrize("health, code, status, reason", [
    ("healthy", 200, "ready", "inherited"),
    ("disabled", 503, "not ready", "health"),
    ("unverified", 503, "error", "check_failed"),
])
def test_tenant_health_decides_readiness_without_override(app, client, health, code,
                                                          status, reason):
    assert set_ready(client, "acme", None).status_code == 200
    with services_of(app).store.db.write() as conn:
        conn.execute("UPDATE tenants SET health = ? WHERE tenant_id = 'acme'", (health,))
    assert readyz(client, "acme") == (code, {"tenant": "acme", "status": status,
                                             "reason": reason})
    assert set_ready(client, "acme", True).json["status"] == "ready"


def test_inheriting_tenant_follows_global_readiness_both_ways(client, switch):
    set_ready(client, "plain", None)
    set_ready(client, "pinned", True)
    switch.ok = False
    assert client.get("/readyz").status_code == 503
    assert readyz(client, "plain") == (503, {"tenant": "plain", "status": "not ready",
                                             "reason": "inherited"})
    assert readyz(client, "pinned")[0] == 200
    switch.ok = True
    assert readyz(client, "plain") == (200, {"tenant": "plain", "status": "ready",
                                             "reason": "inherited"})
    assert client.get("/readyz").status_code == 200


def test_inheriting_tenant_follows_a_store_that_refuses_writes(app, client, monkeypatch):
    # The tenant's own row read stands in for the store check's read; its write probe
    # still decides, as it does for /readyz.
    set_ready(client, "plain", None)
    db = services_of(app).store.db
    monkeypatch.setattr(db, "probe_write", lambda: "disk I/O error")
    monkeypatch.setattr(db, "write_refused", True)
    assert client.get("/readyz").status_code == 503
    assert readyz(client, "plain") == (503, {"tenant": "plain", "status": "not ready",
                                             "reason": "inherited"})
    monkeypatch.undo()
    assert readyz(client, "plain") == (200, {"tenant": "plain", "status": "ready",
                                             "reason": "inherited"})
    assert client.get("/readyz").status_code == 200


def global_snapshot(client):
    text = scrape(client)
    return {name: value(text, name, **labels) for name, labels in [
        ("readiness_state", {}), ("readiness_transitions_total", {}),
        ("readiness_check_duration_seconds_count", {}),
        ("readiness_check_ok", {"check": "store"}), ("readiness_check_ok", {"check": "shutdown"})]}


def test_nothing_a_tenant_does_touches_global_readiness(app, client, monkeypatch):
    assert client.get("/readyz").json == {"status": "ready"}
    before = global_snapshot(client)
    assert before["readiness_state"] == 1 and before["readiness_check_ok"] == 1
    for round_ in range(3):
        for i in range(5):
            for ready in (False, True, False, None):
                set_ready(client, f"t{i}", ready)
            readyz(client, f"t{i}")
        assert set_ready(client, "sixth", True).status_code == 429
        readyz(client, "nobody")
        client.get("/tenant/BAD/readyz")
        client.delete("/admin/tenants/t0", headers=ADMIN)
        readyz(client, "t0")
        client.delete("/admin/tenants/t0?purge=1", headers=ADMIN)
    store = services_of(app).store
    monkeypatch.setattr(store.tenant_readiness, "get", lambda t: 1 / 0)
    assert readyz(client, "t1")[1]["status"] == "error"
    assert global_snapshot(client) == before
    assert client.get("/readyz").json == {"status": "ready"}


@pytest.mark.parametrize("flips, expected", [
    pytest.param([True, False, True], 2, id="ready-not-ready-ready"),
    pytest.param([True, True, True], 0, id="same-value-thrice"),
    pytest.param([True, None, True, None], 0, id="override-equal-to-inherited"),
    # A tenant registered by set_ready starts inheriting (ready); false is a change from that.
    pytest.param([False, False, True, True, False], 3, id="new-tenant-set-not-ready"),
    pytest.param([None, False, None, False, False], 3, id="null-false-null-false"),
])
def test_transitions_count_changes_of_effective_status(client, flips, expected):
    for ready in flips:
        assert set_ready(client, "acme", ready).status_code == 200
        for _ in range(2):
            readyz(client, "acme")
            scrape(client)
    assert transitions(client, "acme") == expected


def test_new_tenant_set_not_ready_while_globally_not_ready_is_no_transition(client, switch):
    switch.ok = False
    assert set_ready(client, "acme", False).json["status"] == "not ready"
    assert set_ready(client, "acme", None).json["status"] == "not ready"
    assert transitions(client, "acme") == 0


def test_inherited_transitions_are_counted_once_per_global_flip(client, switch):
    set_ready(client, "acme", None)
    for ok in (False, True, False, True):
        switch.ok = ok
        for _ in range(3):
            readyz(client, "acme")
            scrape(client)
    assert transitions(client, "acme") == 4
    text = scrape(client)
    assert value(text, "tenant_readiness_state", tenant="acme") == 1
    switch.ok = False
    assert value(scrape(client), "tenant_readiness_state", tenant="acme") == 0
    assert transitions(client, "acme") == 5


@pytest.mark.parametrize("meanwhile", ["override", "status"])
def test_set_ready_over_a_row_changed_after_its_first_read_counts_every_transition(
        app, client, monkeypatch, meanwhile):
    """The first read is outside the write: a change landing between it and the write makes
    the write read the row again, so nothing is counted from a stale row."""
    set_ready(client, "acme", True)
    readyz(client, "acme")
    readiness = services_of(app).store.tenant_readiness
    real_get = readiness.get

    def get_then_change(tenant_id):
        row = real_get(tenant_id)
        monkeypatch.setattr(readiness, "get", real_get)  # the first read only
        if meanwhile == "override":
            readiness.set_override(tenant_id, False)  # another worker's set_ready
        else:
            readiness.record_status(tenant_id, "ready", "error", row.transitions)
        return row

    monkeypatch.setattr(readiness, "get", get_then_change)
    response = set_ready(client, "acme", None)
    assert response.status_code == 200
    # Either way the stored value moved from what the first read saw: this call changed it.
    assert response.json == {"tenant": "acme", "status": "ready", "changed": True}
    # ready -> not ready (the other worker's override) or error -> ready: both counted.
    assert transitions(client, "acme") == 2
    assert readyz(client, "acme") == (200, {"tenant": "acme", "status": "ready",
                                            "reason": "inherited"})


@pytest.mark.parametrize("ready", [True, False, None])
def test_set_ready_answers_the_bytes_jsonify_would(app, client, ready):
    from flask import jsonify

    response = set_ready(client, "acme", ready)
    assert response.status_code == 200
    with app.app_context():
        expected = jsonify(response.get_json())
    assert (response.data, response.mimetype) == (expected.data, expected.mimetype)
