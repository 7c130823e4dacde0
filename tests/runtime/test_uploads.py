"""Tenant uploads: stored inside the tenant's uploads_dir, processed by its own worker."""
from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest

from tests.runtime.helpers import KEY, put
from tests.support.polling import poll

UPLOAD_LIMIT = 2048
SETTINGS = {"TENANT_ADMIN_KEY": KEY, "DEFAULT_TENANT": "home",
            "MAX_UPLOAD_BYTES": UPLOAD_LIMIT, "MAX_JSON_BYTES": 1024}


@pytest.fixture
def settings_overrides():
    return dict(SETTINGS)


def upload(client, prefix: str, content: bytes, filename: str = "scan.pdf"):
    return client.post(f"{prefix}/uploads", data={"file": (io.BytesIO(content), filename)},
                       content_type="multipart/form-data")


def finished(client, location: str) -> dict:
    response = poll(lambda: client.get(location),
                    lambda r: r.get_json().get("state") in ("done", "failed"))
    assert response.status_code == 200
    return response.get_json()


def files_under(path: Path) -> set[Path]:
    return {p for p in path.rglob("*") if p.is_file()}


@pytest.mark.parametrize("prefix, tenant", [("/t/acme", "acme"), ("", "home")],
                         ids=["prefixed", "default-tenant"])
def test_an_upload_is_accepted_then_processed_to_done_with_its_sha256(client, prefix, tenant):
    assert put(client, tenant).status_code == 201
    content = b"%PDF-1.7 exam answers\n" * 40
    response = upload(client, prefix, content)
    assert response.status_code == 202
    body = response.get_json()
    assert body == {"id": body["id"], "tenant": tenant, "filename": "scan.pdf",
                    "size": len(content), "state": "queued"}
    assert len(body["id"]) == 32
    assert response.headers["Location"] == f"{prefix}/uploads/{body['id']}"
    assert finished(client, response.headers["Location"]) == {
        "id": body["id"], "tenant": tenant, "filename": "scan.pdf", "size": len(content),
        "state": "done", "attempts": 1, "sha256": hashlib.sha256(content).hexdigest()}


def test_a_tenant_cannot_read_another_tenants_upload(client):
    for tenant in ("acme", "other"):
        assert put(client, tenant).status_code == 201
    upload_id = upload(client, "/t/acme", b"private").get_json()["id"]
    response = client.get(f"/t/other/uploads/{upload_id}")
    assert response.status_code == 404
    assert response.get_json() == {"error": "unknown_upload"}
    assert client.get(f"/t/acme/uploads/{upload_id}").status_code == 200


@pytest.mark.parametrize("filename", ["../../../escape.txt", "..\\..\\escape.txt",
                                      "/etc/passwd", "sub/../../x.txt", "..", ".hidden"])
def test_a_filename_with_path_separators_is_stored_inside_uploads_dir(client, data_root,
                                                                      tmp_path, filename):
    assert put(client, "acme").status_code == 201
    uploads_dir = data_root / "acme" / "uploads"
    before = files_under(tmp_path)
    response = upload(client, "/t/acme", b"payload", filename)
    assert response.status_code == 202
    status = finished(client, response.headers["Location"])
    assert status["state"] == "done"
    stored_name = status["filename"]
    assert "/" not in stored_name and "\\" not in stored_name
    assert not stored_name.startswith(".")
    created = files_under(tmp_path) - before
    outside = {p for p in created if not p.resolve().is_relative_to(uploads_dir)}
    # Only the store's own files may appear elsewhere (its journal), never an upload.
    assert {p for p in outside if not p.is_relative_to(tmp_path / "store")} == set()
    # The file itself; its record (state, checksum) lives in the store.
    assert {p.name for p in created if p.is_relative_to(uploads_dir)} == {f"{status['id']}.bin"}


@pytest.mark.parametrize("settings_overrides", [
    pytest.param(SETTINGS, id="upload-limit-above-json-limit"),
    pytest.param({**SETTINGS, "MAX_JSON_BYTES": 1024 * 1024}, id="upload-limit-below-json-limit"),
])
def test_an_upload_over_max_upload_bytes_is_413_and_stores_nothing(client, data_root):
    assert put(client, "acme").status_code == 201
    uploads_dir = data_root / "acme" / "uploads"
    response = upload(client, "/t/acme", b"x" * (UPLOAD_LIMIT * 2))
    assert response.status_code == 413
    assert response.get_json() == {"error": "payload_too_large"}
    assert files_under(uploads_dir) == set()


def test_an_upload_between_the_json_and_the_upload_limits_is_accepted(client):
    assert put(client, "acme").status_code == 201
    response = upload(client, "/t/acme", b"y" * 1500)
    assert response.status_code == 202
    assert finished(client, response.headers["Location"])["size"] == 1500


@pytest.mark.parametrize("data", [{}, {"other": (io.BytesIO(b"x"), "a.txt")},
                                  {"file": "not a file"}],
                         ids=["no-fields", "other-field", "text-field"])
def test_an_upload_without_a_file_field_is_400(client, data):
    assert put(client, "acme").status_code == 201
    response = client.post("/t/acme/uploads", data=data, content_type="multipart/form-data")
    assert response.status_code == 400
    assert response.get_json() == {"error": "missing_file", "field": "file"}


@pytest.mark.parametrize("upload_id", ["0" * 32, "f" * 32, "F" * 32, "0" * 31, "0" * 33,
                                       "not-an-id", "g" * 32, "." * 32])
def test_an_unknown_or_malformed_upload_id_is_404(client, upload_id):
    assert put(client, "acme").status_code == 201
    assert upload(client, "/t/acme", b"exists").status_code == 202
    response = client.get(f"/t/acme/uploads/{upload_id}")
    assert response.status_code == 404
    assert response.get_json() == {"error": "unknown_upload"}
