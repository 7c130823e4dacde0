"""Accepting and deleting uploads (contract sec. 17): quotas, the free-space reserve."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.runtime.helpers import AUTH, KEY, put, stored_files, upload
from tests.support.metrics_text import value
from tests.support.polling import poll

WAIT = 10.0
SETTINGS = {"TENANT_ADMIN_KEY": KEY, "GUNICORN_THREADS": 32, "TENANT_MAX_THREAD_SHARE": 1}


@pytest.fixture
def settings_overrides(request):
    return getattr(request, "param", SETTINGS)


def test_an_upload_over_the_byte_quota_is_refused_and_leaves_nothing(client, data_root):
    assert put(client, "acme", {"quota": {"upload_bytes": 15}}).status_code == 201
    first = upload(client, "acme")
    assert first.status_code == 202

    refused = upload(client, "acme", b"x" * 6)

    assert refused.status_code == 403
    assert refused.get_json() == {"error": "quota_exceeded", "quota": "upload_bytes",
                                  "limit": 15, "used": 10}
    assert stored_files(data_root, "acme") == [f"{first.get_json()['id']}.bin"]
    assert upload(client, "acme", b"x" * 5).status_code == 202  # exactly up to the quota


def test_an_upload_over_the_count_quota_is_refused(client, data_root):
    assert put(client, "acme", {"quota": {"uploads": 2}}).status_code == 201
    assert [upload(client, "acme").status_code for _ in range(3)] == [202, 202, 403]
    assert len(stored_files(data_root, "acme")) == 2


@pytest.mark.parametrize("settings_overrides", [
    {**SETTINGS, "TENANT_UPLOAD_QUOTA_COUNT": 1}], indirect=True)
def test_the_server_default_quota_applies_to_tenants_without_their_own(client):
    assert put(client, "acme").status_code == 201
    assert put(client, "globex", {"quota": {"uploads": 3}}).status_code == 201
    assert [upload(client, "acme").status_code for _ in range(2)] == [202, 403]
    assert [upload(client, "globex").status_code for _ in range(4)] == [202, 202, 202, 403]


def test_concurrent_uploads_never_pass_the_quota_together(app, client, data_root):
    assert put(client, "acme", {"quota": {"uploads": 5}}).status_code == 201
    barrier = threading.Barrier(20)

    def one(_):
        own = app.test_client()
        barrier.wait(WAIT)
        return upload(own, "acme").status_code

    with ThreadPoolExecutor(20) as pool:
        codes = sorted(pool.map(one, range(20)))

    assert codes == [202] * 5 + [403] * 15
    assert len(stored_files(data_root, "acme")) == 5


@pytest.mark.parametrize("settings_overrides", [
    {**SETTINGS, "STORAGE_RESERVE_BYTES": 1 << 62}], indirect=True)
def test_an_upload_that_would_eat_into_the_reserve_is_refused_before_writing(client, data_root):
    assert put(client, "acme").status_code == 201

    response = upload(client, "acme")

    assert response.status_code == 503
    assert response.get_json() == {"error": "storage_low"}
    assert int(response.headers["Retry-After"]) > 0
    assert stored_files(data_root, "acme") == []
    assert client.get("/readyz").status_code == 200
    assert put(client, "globex").status_code == 201  # admin writes go on


def test_a_deleted_upload_is_gone_and_its_quota_free(client, data_root):
    assert put(client, "acme", {"quota": {"uploads": 1}}).status_code == 201
    created = upload(client, "acme").get_json()
    location = f"/t/acme/uploads/{created['id']}"
    poll(lambda: client.get(location).get_json()["state"], lambda s: s == "done")

    deleted = client.delete(location)

    assert deleted.status_code == 200
    assert deleted.get_json() == {"id": created["id"], "tenant": "acme", "deleted": True}
    assert client.get(location).status_code == 404
    assert client.delete(location).get_json() == {"error": "unknown_upload"}
    assert stored_files(data_root, "acme") == []
    assert upload(client, "acme").status_code == 202


def test_a_tenant_cannot_delete_another_tenants_upload(client, data_root):
    for tenant in ("acme", "globex"):
        assert put(client, tenant).status_code == 201
    theirs = upload(client, "globex").get_json()["id"]

    assert client.delete(f"/t/acme/uploads/{theirs}").status_code == 404
    assert client.get(f"/t/globex/uploads/{theirs}").status_code == 200
    assert stored_files(data_root, "globex") == [f"{theirs}.bin"]


@pytest.mark.parametrize("upload_id", ["nope", "../x", "0" * 31 + "g"])
def test_deleting_a_malformed_id_is_404(client, upload_id):
    assert put(client, "acme").status_code == 201
    assert client.delete(f"/t/acme/uploads/{upload_id}").status_code == 404


def test_storage_metrics_follow_the_uploads(client):
    assert put(client, "acme", {"quota": {"upload_bytes": 1000}}).status_code == 201
    assert put(client, "globex").status_code == 201
    upload(client, "acme", b"x" * 300)
    upload(client, "acme", b"y" * 200)

    text = client.get("/metrics").get_data(as_text=True)

    assert value(text, "tenant_upload_bytes", tenant="acme") == 500
    assert value(text, "tenant_upload_bytes", tenant="globex") == 0
    assert value(text, "tenant_upload_quota_bytes", tenant="acme") == 1000
    assert value(text, "tenant_upload_quota_bytes", tenant="globex") == 1 << 30
    assert value(text, "storage_reserve_bytes") == 1 << 20
    assert value(text, "storage_free_bytes") > 0


@pytest.mark.parametrize("quota", [
    {"upload_bytes": -1}, {"uploads": -5}, {"upload_bytes": "10"}, {"uploads": 1.5},
    {"upload_bytes": 1 << 51}, {"uploads": True}, {"files": 3}, [], "big", None])
def test_a_bad_quota_is_refused_and_changes_nothing(client, quota):
    assert put(client, "acme", {"quota": {"uploads": 7}}).status_code == 201

    response = client.put("/admin/tenants/acme", json={"quota": quota}, headers=AUTH)

    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_body"
    assert "quota" in response.get_json()["fields"]
    assert client.get("/admin/tenants/acme", headers=AUTH).get_json()["quota"] == {"uploads": 7}


def test_a_byte_quota_of_zero_turns_uploads_off(client, data_root):
    assert put(client, "acme", {"quota": {"upload_bytes": 0}}).status_code == 201

    response = upload(client, "acme", b"")

    assert response.status_code == 403
    assert response.get_json()["quota"] == "upload_bytes"
    assert stored_files(data_root, "acme") == []
