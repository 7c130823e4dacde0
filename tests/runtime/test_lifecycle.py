"""A tenant holds no thread: its jobs run on each worker's few job threads, which
unloading a tenant leaves alone and close_app stops."""
from __future__ import annotations

import io
import shutil
import threading

import pytest

from app.runtime.uploads import UploadFiles
from app.services import services_of

from app import close_app, create_app
from tests.runtime.helpers import AUTH, KEY, put
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


def job_threads(app) -> list[threading.Thread]:
    """The app's job threads in this process (app/jobs/runner.py), the live ones."""
    return [t for t in services_of(app).jobs.threads() if t.is_alive()]


def tenant_threads(tenant: str) -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith(f"tenant-{tenant}-")]


def test_an_idle_tenant_holds_no_thread_and_jobs_share_a_fixed_number(app, client):
    for tenant in ("acme", "beta", "gamma"):
        assert put(client, tenant).status_code == 201
        assert client.get(f"/t/{tenant}/health").status_code == 200
    assert job_threads(app) == []  # nothing submitted in this process yet
    for tenant in ("acme", "beta", "gamma"):
        for _ in range(2):
            upload(client, tenant)
    runners = services_of(app).settings.job_runner_threads
    # The runner threads and one lease renewer, however many tenants had jobs.
    assert len(job_threads(app)) == runners + 1
    assert [tenant_threads(t) for t in ("acme", "beta", "gamma")] == [[], [], []]


@pytest.mark.parametrize("unload, next_status", [
    ("disable", 503), ("purge", 404), ("reconfigure", 200), ("recreate-disabled", 503)])
def test_unloading_a_tenant_stops_nothing_another_tenant_needs(
        app, client, data_root, unload, next_status):
    assert put(client, "acme").status_code == 201
    assert put(client, "other").status_code == 201
    upload(client, "acme")
    upload(client, "other")
    threads = job_threads(app)
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
    assert tenant_threads("acme") == []
    assert len(threads) > 1 and job_threads(app) == threads
    upload(client, "other")


def test_a_reloaded_tenant_runs_its_jobs_on_the_same_threads(app, client, data_root):
    assert put(client, "acme").status_code == 201
    upload(client, "acme")
    threads = job_threads(app)
    assert put(client, "acme", {"data_dir": str(data_root / "v2")}).status_code == 200
    upload(client, "acme")
    assert job_threads(app) == threads


def test_close_app_stops_the_job_threads(tmp_path, monkeypatch):
    for name in ("TENANT_ADMIN_KEY", "TENANT_DB_URL", "PROMETHEUS_MULTIPROC_DIR"):
        monkeypatch.delenv(name, raising=False)
    app = create_app({"TESTING": True, "TENANT_ADMIN_KEY": KEY,
                      "TENANT_DB_PATH": str(tmp_path / "own" / "tenants.sqlite3"),
                      "TENANT_DATA_ROOT": str(tmp_path / "own-tenants")})
    client = app.test_client()
    for tenant in ["t1", "t2", "t3"]:
        assert put(client, tenant).status_code == 201
        upload(client, tenant)
    threads = services_of(app).jobs.threads()
    assert threads and all(t.is_alive() for t in threads)
    close_app(app)
    # close_app joins them: they are gone when it returns, no polling needed.
    assert [t.is_alive() for t in threads] == [False] * len(threads)


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
def test_a_failing_upload_does_not_stop_the_job_threads(app, client, data_root,
                                                        monkeypatch, fault, status, body):
    assert put(client, "acme").status_code == 201
    gate, waiting = threading.Event(), threading.Event()
    checksum = UploadFiles.checksum

    def gated_checksum(files, upload_id):
        waiting.set()
        assert gate.wait(WAIT)
        return checksum(files, upload_id)

    monkeypatch.setattr(UploadFiles, "checksum", gated_checksum)
    location = post_upload(client, "acme")
    assert waiting.wait(WAIT)  # a job thread runs the upload's job, before it reads the file
    threads = job_threads(app)
    fault(client, data_root / "acme" / "uploads", location.rsplit("/", 1)[1])
    gate.set()
    response = poll(lambda: client.get(location),
                    lambda r: r.status_code == status
                    and (status != 200 or r.get_json()["state"] == "failed"))
    assert response.status_code == status
    assert {k: response.get_json().get(k) for k in body} == body
    upload(client, "acme")  # the same job threads go on with the next upload
    assert job_threads(app) == threads


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
