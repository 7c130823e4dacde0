"""/admin/tenants through the Flask test client, row by row of contract sec. 7."""
from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta, timezone

import pytest

from tests.admin.helpers import AUTH, CAP, KEYS, metric, put, snapshot


# -- authentication ---------------------------------------------------------------------
ROUTES = [("get", "/admin/tenants"), ("get", "/admin/tenants/acme"),
          ("put", "/admin/tenants/acme"), ("delete", "/admin/tenants/acme"),
          ("delete", "/admin/tenants/acme?purge=1"), ("post", "/admin/tenants/acme/recheck")]


@pytest.mark.parametrize("method,path", ROUTES)
def test_missing_key_is_401_and_changes_nothing(client, store, acme, method, path):
    before = snapshot(store)
    response = getattr(client, method)(path, json={"enabled": False})
    assert response.status_code == 401
    assert response.json == {"error": "unauthorized"}
    assert snapshot(store) == before


@pytest.mark.parametrize("key", ["wrong", KEYS[0] + "x", KEYS[0][:-1], KEYS[0].upper(),
                                 ",".join(KEYS), "", "\u00e9" + KEYS[0]])
def test_wrong_key_is_401(client, key):
    response = client.get("/admin/tenants", headers={"X-Admin-Key": key})
    assert response.status_code == 401
    assert response.json == {"error": "unauthorized"}


@pytest.mark.parametrize("query", ["X-Admin-Key", "x_admin_key", "key", "admin_key"])
def test_key_in_query_string_is_refused(client, query):
    response = client.get(f"/admin/tenants?{query}={KEYS[0]}")
    assert response.status_code == 401
    assert response.json == {"error": "unauthorized"}


@pytest.mark.parametrize("key", KEYS)
def test_each_rotated_key_is_accepted(client, key):
    response = client.get("/admin/tenants", headers={"X-Admin-Key": key})
    assert response.status_code == 200
    assert response.json == {"tenants": []}


@pytest.mark.parametrize("settings_overrides", [{}, {"TENANT_ADMIN_KEY": ""},
                                                {"TENANT_ADMIN_KEY": " , "}])
@pytest.mark.parametrize("header", ["anything", "", " , "])
def test_no_key_configured_refuses_every_call(client, header):
    for method, path in ROUTES:
        response = getattr(client, method)(path, json={}, headers={"X-Admin-Key": header})
        assert response.status_code == 401, (method, path)
        assert response.json == {"error": "unauthorized"}


def test_admin_keys_never_reach_the_log(client, caplog):
    caplog.set_level(logging.DEBUG)
    put(client, "acme", {"hosts": ["acme.example"]})
    client.get("/admin/tenants", headers={"X-Admin-Key": KEYS[1]})
    client.get("/admin/tenants", headers={"X-Admin-Key": "wrong-" + KEYS[0]})
    client.get(f"/admin/tenants?X-Admin-Key={KEYS[1]}")
    put(client, "Bad", {})
    client.put("/admin/tenants/acme", data="{bad", content_type="application/json",
               headers=AUTH)
    logged = caplog.text + " ".join(repr(r.args) for r in caplog.records)
    assert all(key not in logged for key in KEYS)


# -- create, read, update, delete --------------------------------------------------------
def test_create_answers_201_with_defaults_under_data_root(client, root):
    response = put(client, "acme")
    assert response.status_code == 201
    body = response.json
    assert body["tenant_id"] == "acme" and body["enabled"] is True
    assert (body["hosts"], body["limits"], body["extra"]) == ([], {}, {})
    assert body["data_dir"] == str(root / "acme" / "data")
    assert body["uploads_dir"] == str(root / "acme" / "uploads")
    assert (root / "acme" / "data").is_dir() and (root / "acme" / "uploads").is_dir()


def test_put_existing_answers_200_and_replaces_the_config(client, acme):
    response = put(client, "acme", {"enabled": False, "data_dir": "acme/v2"})
    assert response.status_code == 200
    assert response.json["enabled"] is False
    assert response.json["data_dir"].endswith("/acme/v2")
    # Omitted fields take their defaults: PUT replaces, it does not merge.
    assert (response.json["hosts"], response.json["limits"], response.json["extra"]) == \
        ([], {}, {})
    assert client.get("/admin/tenants/acme", headers=AUTH).json == response.json


def test_list_and_get_answer_the_stored_tenants(client, acme):
    assert put(client, "beta").status_code == 201
    listed = client.get("/admin/tenants", headers=AUTH)
    assert listed.status_code == 200
    assert [t["tenant_id"] for t in listed.json["tenants"]] == ["acme", "beta"]
    one = client.get("/admin/tenants/acme", headers=AUTH)
    assert one.status_code == 200
    assert one.json == listed.json["tenants"][0]
    assert one.json["hosts"] == ["acme.example"] and one.json["extra"] == {"plan": "gold"}


@pytest.mark.parametrize("method,path", [("get", "/admin/tenants/nobody"),
                                         ("delete", "/admin/tenants/nobody"),
                                         ("delete", "/admin/tenants/nobody?purge=1"),
                                         ("post", "/admin/tenants/nobody/recheck")])
def test_unknown_tenant_is_404(client, store, method, path):
    before = snapshot(store)
    response = getattr(client, method)(path, headers=AUTH)
    assert response.status_code == 404
    assert response.json == {"error": "unknown_tenant"}
    assert snapshot(store) == before


def test_delete_disables_and_keeps_the_record(client, acme):
    response = client.delete("/admin/tenants/acme", headers=AUTH)
    assert response.status_code == 200
    assert response.json == {"tenant_id": "acme", "enabled": False, "purged": False}
    shown = client.get("/admin/tenants/acme", headers=AUTH)
    assert shown.status_code == 200
    assert shown.json["enabled"] is False and shown.json["hosts"] == ["acme.example"]
    assert client.get("/t/acme/health").json == {"error": "tenant_disabled"}


@pytest.mark.parametrize("query", ["purge=maybe", "purge=2", "purge="])
def test_delete_with_a_bad_purge_value_is_400(client, store, acme, query):
    before = snapshot(store)
    response = client.delete(f"/admin/tenants/acme?{query}", headers=AUTH)
    assert response.status_code == 400
    assert "purge" in response.json["fields"]
    assert snapshot(store) == before


def test_purge_removes_the_record_and_frees_its_label(client, acme, root):
    assert put(client, "beta").status_code == 201
    assert put(client, "gamma").status_code == 201
    assert put(client, "delta").status_code == 429
    response = client.delete("/admin/tenants/acme?purge=1", headers=AUTH)
    assert response.status_code == 200
    # The answer names the directories removed with the record (tests/security/
    # test_hostile_purge.py shows what that means for a tenant created again).
    assert response.json == {"tenant_id": "acme", "enabled": False, "purged": True,
                             "removed": [str(root / "acme" / "data"),
                                         str(root / "acme" / "uploads")]}
    assert client.get("/admin/tenants/acme", headers=AUTH).status_code == 404
    assert client.get("/t/acme/health").json == {"error": "unknown_tenant"}
    assert put(client, "delta").status_code == 201
    assert metric(client, "tenant_labels_active") == CAP
    # Its host is free again too.
    assert put(client, "acme", {"hosts": ["acme.example"]}).status_code == 429
    assert put(client, "delta", {"hosts": ["acme.example"]}).status_code == 200


def test_recheck_answers_the_known_tenant(client, acme):
    assert put(client, "acme", acme).json["health"]["state"] == "pending"
    response = client.post("/admin/tenants/acme/recheck", headers=AUTH)
    assert response.status_code == 200
    assert response.json["tenant_id"] == "acme"
    health = response.json["health"]
    assert health["state"] == "healthy" and health["last_checked_at"]
    assert client.get("/admin/tenants/acme", headers=AUTH).json["health"] == health


def test_hosts_are_normalised(client):
    hosts = ["Shop.Example.COM", "api.example.com:8443", "www.example.com.", "[::1]:8080"]
    assert put(client, "acme", {"hosts": hosts}).status_code == 201
    shown = client.get("/admin/tenants/acme", headers=AUTH).json
    assert shown["hosts"] == ["shop.example.com", "api.example.com", "www.example.com", "::1"]


ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|\+00:00)$")


def test_updated_at_is_utc_iso8601_and_moves_on_update_only(client, store):
    created = put(client, "acme").json
    for stamp in (created["created_at"], created["updated_at"]):
        assert ISO_UTC.match(stamp), stamp
        moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
        assert moment.utcoffset() == timedelta(0)
        assert abs(datetime.now(timezone.utc) - moment) < timedelta(minutes=5)
    later = iter(["2099-01-01T00:00:00.000Z", "2099-01-02T00:00:00.000Z"])
    store.tenants._now = lambda: next(later)   # a clock, so no test waits for time to pass
    updated = put(client, "acme", {"enabled": False}).json
    assert updated["updated_at"] == "2099-01-01T00:00:00.000Z"
    assert updated["created_at"] == created["created_at"]
    assert client.delete("/admin/tenants/acme", headers=AUTH).status_code == 200
    shown = client.get("/admin/tenants/acme", headers=AUTH).json
    assert (shown["created_at"], shown["updated_at"]) == \
        (created["created_at"], "2099-01-02T00:00:00.000Z")
