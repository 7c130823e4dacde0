"""Creating and changing tenants: one path for the admin API, set_ready and the CLI."""
from __future__ import annotations

import logging

import pytest

from tests.support.metrics_text import scrape, value

ADMIN_KEY, API_KEY = "registration-admin-key-93d1", "registration-api-key-5e0a"
ADMIN, API = {"X-Admin-Key": ADMIN_KEY}, {"X-API-Key": API_KEY}


@pytest.fixture
def settings_overrides():
    return {"TENANT_ADMIN_KEY": ADMIN_KEY, "TENANT_API_KEY": API_KEY, "MAX_TENANT_LABELS": 1}


def test_a_cap_refusal_is_counted_once_whichever_way_the_tenant_was_asked_for(client, runner):
    assert client.put("/admin/tenants/first", json={}, headers=ADMIN).status_code == 201
    by_admin = client.put("/admin/tenants/second", json={}, headers=ADMIN)
    by_set_ready = client.post("/tenant/third/set_ready", json={"ready": True}, headers=API)
    by_cli = runner.invoke(args=["tenants", "put", "fourth"])
    for refused in (by_admin, by_set_ready):
        assert refused.status_code == 429
        assert refused.get_json() == {"error": "label_cardinality_limit", "limit": 1}
    assert by_cli.exit_code != 0 and "label_cardinality_limit" in by_cli.stderr
    text = scrape(client)
    assert value(text, "tenant_label_rejections_total") == 3
    assert value(text, "tenant_labels_active") == 1


def test_set_ready_registers_an_unknown_tenant_with_its_default_directories(client, root):
    assert client.post("/tenant/newco/set_ready", json={"ready": True},
                       headers=API).status_code == 200
    shown = client.get("/admin/tenants/newco", headers=ADMIN).get_json()
    assert (shown["data_dir"], shown["uploads_dir"]) == \
        (str(root / "newco" / "data"), str(root / "newco" / "uploads"))
    assert (root / "newco" / "data").is_dir() and (root / "newco" / "uploads").is_dir()


def test_a_directory_that_cannot_be_made_leaves_the_tenant_stored(client, root, caplog):
    (root / "blocker").write_text("a regular file where a directory should be")
    with caplog.at_level(logging.WARNING, logger="app.tenants.registration"):
        response = client.put("/admin/tenants/acme", json={"data_dir": "blocker/data"},
                              headers=ADMIN)
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["data_dir"] == str(root / "blocker" / "data")
    assert client.get("/admin/tenants/acme", headers=ADMIN).status_code == 200
    assert [r.getMessage() for r in caplog.records if r.name == "app.tenants.registration"] == \
        [f"tenant acme: cannot create {root / 'blocker' / 'data'}: Not a directory"]
