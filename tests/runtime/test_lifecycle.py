"""Unloading a tenant stops its workers: no thread outlives its tenant."""
from __future__ import annotations

import io
import shutil
import threading
from contextlib import contextmanager

import pytest

from app.services import services_of

from app import close_app, create_app
from tests.runtime.helpers import AUTH, KEY, put, threads_named
from tests.support.polling import poll


WAIT = 10.0


def post_upload(client, tenant: str) -> str:
    response = client.post(f"/t/{tenant}/uploads",
                           data={"file": (io.BytesIO(b"answers"), "a.txt")},
                           content_type="multipart/form-data")
    assert response.status_code == 202
    return response.headers["Location"]


def upload(client, tenant: str) -> None:
    location = post_upload(client, tenant)
    done = poll(lambda: client.get(location).get_json(), lambda body: body["state"] == "done")
    assert done["state"] == "done"


def worker_of(tenant: str) -> threading.Thread:
    (thread,) = threads_named(f"tenant-{tenant}-uploads")
    assert thread.is_alive()
    return thread


def gone(thread: threading.Thread) -> bool:
    thread = poll(lambda: thread, lambda t: not t.is_alive())
    return not thread.is_alive() and thread not in threading.enumerate()


def test_the_upload_worker_starts_with_the_first_upload_and_is_one_per_tenant(client):
    assert put(client, "acme").status_code == 201
    assert client.get("/t/acme/health").status_code == 200
    assert threads_named("tenant-acme-uploads") == []
    for _ in range(3):
        upload(client, "acme")
    assert len(threads_named("tenant-acme-uploads")) == 1


@pytest.mark.parametrize("unload, next_status", [
    ("disable", 503), ("purge", 404), ("reconfigure", 200), ("recreate-disabled", 503)])
def test_unloading_a_tenant_joins_its_upload_worker(client, data_root, unload, next_status):
    assert put(client, "acme").status_code == 201
    assert put(client, "other").status_code == 201
    upload(client, "acme")
    upload(client, "other")
    worker, others_worker = worker_of("acme"), worker_of("other")
    if unload == "disable":
        assert client.delete("/admin/tenants/acme", headers=AUTH).status_code == 200
    elif unload == "purge":
        assert client.delete("/admin/tenants/acme?purge=1", headers=AUTH).status_code == 200
    elif unload == "reconfigure":
        body = {"data_dir": str(data_root / "acme-v2")}
        assert put(client, "acme", body).status_code == 200
    else:
        assert put(client, "acme", {"enabled": False}).status_code == 200
    # The next tenant request in this worker process notices the change and unloads.
    assert client.get("/t/acme/health").status_code == next_status
    assert gone(worker)
    assert others_worker.is_alive()  # another tenant's worker is left alone
    upload(client, "other")


def test_a_worker_that_notices_the_change_through_another_tenant_unloads_too(client):
    for tenant in ("acme", "other"):
        assert put(client, tenant).status_code == 201
    upload(client, "acme")
    worker = worker_of("acme")
    assert client.delete("/admin/tenants/acme", headers=AUTH).status_code == 200
    assert client.get("/t/other/health").status_code == 200
    assert gone(worker)


def test_a_reloaded_tenant_gets_a_fresh_worker(client, data_root):
    assert put(client, "acme").status_code == 201
    upload(client, "acme")
    first = worker_of("acme")
    assert put(client, "acme", {"data_dir": str(data_root / "v2")}).status_code == 200
    upload(client, "acme")
    assert gone(first)
    assert worker_of("acme") is not first


def test_close_app_stops_every_tenants_worker(tmp_path, monkeypatch):
    for name in ("TENANT_ADMIN_KEY", "TENANT_DB_URL", "PROMETHEUS_MULTIPROC_DIR"):
        monkeypatch.delenv(name, raising=False)
    app = create_app({"TESTING": True, "TENANT_ADMIN_KEY": KEY,
                      "TENANT_DB_PATH": str(tmp_path / "own" / "tenants.sqlite3"),
                      "TENANT_DATA_ROOT": str(tmp_path / "own-tenants")})
    client = app.test_client()
    tenants = ["t1", "t2", "t3"]
    for tenant in tenants:
        assert put(client, tenant).status_code == 201
        upload(client, tenant)
    workers = [worker_of(tenant) for tenant in tenants]
    close_app(app)
    # close_app joins them: they are gone when it returns, no polling needed.
    assert [w.is_alive() for w in workers] == [False] * len(tenants)
    prefixes = tuple(f"tenant-{tenant}-" for tenant in tenants)
    leftovers = poll(lambda: [t.name for t in threading.enumerate() if t.name.startswith(prefixes)],
                     lambda names: names == [])
    assert leftovers == []


def _replace_bin_with_directory(client, uploads, upload_id):
    (uploads / f"{upload_id}.bin").unlink()
    (uploads / f"{upload_id}.bin").mkdir()


def _delete_through_the_api(client, uploads, upload_id):
    assert client.delete(f"/t/acme/uploads/{upload_id}").status_code == 200


def _delete_the_file(client, uploads, upload_id):
    (uploads / f"{upload_id}.bin").unlink()


@pytest.mark.parametrize("fault, status, body", [
    (_replace_bin_with_directory, 200, {"state": "failed", "error": "IsADirectoryError"}),
    (_delete_the_file, 200, {"state": "failed", "error": "FileNotFoundError"}),
    (_delete_through_the_api, 404, {"error": "unknown_upload"}),
], ids=["bin-replaced-by-directory", "file-deleted", "upload-deleted-while-queued"])
def test_a_failing_upload_does_not_stop_the_tenants_worker(app, client, data_root,
                                                           monkeypatch, fault, status, body):
    assert put(client, "acme").status_code == 201
    gate, waiting = threading.Event(), threading.Event()

    @contextmanager
    def gated_permit(tenant, limits, name):
        waiting.set()
        assert gate.wait(WAIT)
        yield

    monkeypatch.setattr(services_of(app).limiter, "background_hold", gated_permit)
    location = post_upload(client, "acme")
    assert waiting.wait(WAIT)  # the worker has the upload and waits for its permit
    worker = worker_of("acme")
    fault(client, data_root / "acme" / "uploads", location.rsplit("/", 1)[1])
    gate.set()
    response = poll(lambda: client.get(location),
                    lambda r: r.status_code == status
                    and (status != 200 or r.get_json()["state"] == "failed"))
    assert response.status_code == status
    assert {k: response.get_json().get(k) for k in body} == body
    upload(client, "acme")  # the same worker thread goes on with the next upload
    assert worker_of("acme") is worker


def test_an_upload_after_its_uploads_dir_vanished_is_503_until_it_is_back(client, data_root):
    assert put(client, "acme").status_code == 201
    upload(client, "acme")
    shutil.rmtree(data_root / "acme" / "uploads")
    response = client.post("/t/acme/uploads", data={"file": (io.BytesIO(b"x"), "a.txt")},
                           content_type="multipart/form-data")
    assert response.status_code == 503
    assert response.get_json() == {"error": "tenant_storage_unavailable"}
    (data_root / "acme" / "uploads").mkdir()
    upload(client, "acme")
