"""Tenant dispatch through the app: /t/<t>/..., Host, the default tenant and the 4xx/5xx answers."""
from __future__ import annotations

import shutil
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.runtime.helpers import AUTH, KEY, put, recheck, write_manifest

WAIT = 10.0


@pytest.fixture
def settings_overrides():
    # 32 threads of the test client stand for 32 request threads of one worker.
    return {"TENANT_ADMIN_KEY": KEY, "CHAOS_ENABLED": 1, "DEFAULT_TENANT": "home",
            "GUNICORN_THREADS": 32, "TENANT_MAX_THREAD_SHARE": 1}


@pytest.fixture
def gated_build(monkeypatch, tenants):
    """Counts builds; the first one blocks until ``gate`` is set."""
    original = tenants.factory.build

    class Gated:
        gate, entered, calls = threading.Event(), threading.Event(), []

        @classmethod
        def build(cls, record):
            cls.calls.append(record.tenant_id)
            if len(cls.calls) == 1:
                cls.entered.set()
                assert cls.gate.wait(WAIT)
            return original(record)

    monkeypatch.setattr(tenants.factory, "build", Gated.build)
    yield Gated
    Gated.gate.set()


def test_each_tenant_lists_only_the_exams_in_its_own_data_dir(client, data_root):
    for tenant in ("t1", "t2"):
        data_dir = data_root / f"{tenant}_data"
        write_manifest(data_dir, f"EX_{tenant.upper()}")
        body = {"data_dir": str(data_dir), "uploads_dir": str(data_root / f"{tenant}_up")}
        assert put(client, tenant, body).status_code == 201
    for tenant in ("t1", "t2"):
        response = client.get(f"/t/{tenant}/exams")
        assert response.status_code == 200
        assert response.get_json() == {"tenant": tenant,
                                       "exams": [{"exam_id": f"EX_{tenant.upper()}"}]}
        response = client.get(f"/t/{tenant}/health")
        assert response.status_code == 200
        assert response.get_json() == {"status": "ok", "tenant": tenant, "workspace": "main"}


@pytest.mark.parametrize("method, path", [
    ("get", "/admin/tenants"), ("get", "/admin/tenants/t1"), ("put", "/admin/tenants/t1"),
    ("delete", "/admin/tenants/t1"), ("post", "/admin/tenants/t1/recheck")])
@pytest.mark.parametrize("headers", [{}, {"X-Admin-Key": "wrong"}, {"X-Admin-Key": ""}],
                         ids=["no-key", "wrong-key", "empty-key"])
def test_admin_calls_without_the_admin_key_are_401_and_change_nothing(client, method, path,
                                                                      headers):
    assert put(client, "t1").status_code == 201
    before = client.get("/admin/tenants", headers=AUTH).get_json()
    response = getattr(client, method)(path, json={"enabled": False}, headers=headers)
    assert response.status_code == 401
    assert response.get_json() == {"error": "unauthorized"}
    assert client.get("/admin/tenants", headers=AUTH).get_json() == before


def test_un_prefixed_routes_serve_the_default_tenant(client, data_root):
    assert client.get("/health").get_json() == {"error": "unknown_tenant"}
    write_manifest(data_root / "home" / "data", "EX_HOME")
    assert put(client, "home").status_code == 201
    assert client.get("/health").get_json() == {"status": "ok", "tenant": "home",
                                                "workspace": "main"}
    assert client.get("/exams").get_json() == {"tenant": "home",
                                               "exams": [{"exam_id": "EX_HOME"}]}


@pytest.mark.parametrize("host", ["acme.example", "ACME.EXAMPLE", "ACME.EXAMPLE:8080",
                                  "Acme.Example.", "ACME.EXAMPLE.:8080"])
def test_a_host_header_selects_the_tenant_configured_with_that_host(client, host):
    assert put(client, "home").status_code == 201
    assert put(client, "acme", {"hosts": ["acme.example"]}).status_code == 201
    response = client.get("/health", headers={"Host": host})
    assert response.status_code == 200
    assert response.get_json()["tenant"] == "acme"
    # A host nobody configured falls back to the default tenant; the path prefix wins.
    assert client.get("/health", headers={"Host": "other.example"}).get_json()["tenant"] == \
        "home"
    assert client.get("/t/home/health", headers={"Host": host}).get_json()["tenant"] == "home"


@pytest.mark.parametrize("path", ["/t/nobody/health", "/t/nobody/exams",
                                  "/t/nobody/uploads/" + "0" * 32])
def test_an_unknown_tenant_is_404_unknown_tenant(client, path):
    response = client.get(path)
    assert response.status_code == 404
    assert response.get_json() == {"error": "unknown_tenant"}


@pytest.mark.parametrize("tenant", ["Acme", "acme_1", "-acme", "a" * 64])
def test_an_invalid_tenant_id_in_the_path_is_400(client, tenant):
    response = client.get(f"/t/{tenant}/health")
    assert response.status_code == 400
    assert response.get_json() == {"error": "invalid_tenant_id"}


@pytest.mark.parametrize("workspace", ["Bad_WS", "-ws", "ws-", "w" * 64, "a b"])
def test_an_invalid_workspace_header_is_400(client, workspace):
    assert put(client, "acme").status_code == 201
    response = client.get("/t/acme/health", headers={"X-Workspace": workspace})
    assert response.status_code == 400
    assert response.get_json() == {"error": "invalid_workspace_id"}


def test_a_disabled_tenant_is_503_tenant_disabled(client):
    assert put(client, "acme").status_code == 201
    assert client.get("/t/acme/health").status_code == 200
    assert client.delete("/admin/tenants/acme", headers=AUTH).status_code == 200
    for path in ("/t/acme/health", "/t/acme/exams"):
        response = client.get(path)
        assert response.status_code == 503
        assert response.get_json() == {"error": "tenant_disabled"}


def test_a_failed_factory_makes_the_tenant_unavailable_without_retrying_it(
        client, gated_build):
    gated_build.gate.set()
    assert put(client, "fine").status_code == 201
    assert put(client, "broken", {"extra": {"chaos": {"factory": "raise"}}}).status_code == 201
    for _ in range(3):
        response = client.get("/t/broken/health")
        assert response.status_code == 503
        assert response.get_json() == {"error": "tenant_unavailable"}
        assert client.get("/t/fine/health").status_code == 200
    assert gated_build.calls.count("broken") == 1
    health = client.get("/admin/tenants/broken", headers=AUTH).get_json()["health"]
    assert health["state"] == "disabled"
    assert health["reason"].startswith("build failed: InjectedFault")
    response = client.get("/tenant/broken/readyz")
    assert response.status_code == 503
    assert response.get_json() == {"tenant": "broken", "status": "not ready",
                                   "reason": "health"}
    assert client.get("/readyz").status_code == 200


def test_an_unverified_tenant_keeps_serving_but_its_readiness_is_check_failed(client,
                                                                              data_root):
    assert put(client, "acme").status_code == 201
    assert client.get("/t/acme/health").status_code == 200
    assert client.get("/tenant/acme/readyz").get_json()["reason"] == "inherited"
    shutil.rmtree(data_root / "acme" / "data")
    response = recheck(client, "acme")
    assert response.status_code == 200
    assert response.get_json()["health"]["state"] == "unverified"
    assert "is missing" in response.get_json()["health"]["reason"]
    response = client.get("/tenant/acme/readyz")
    assert response.status_code == 503
    assert response.get_json() == {"tenant": "acme", "status": "error",
                                   "reason": "check_failed"}
    response = client.get("/t/acme/health")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "tenant": "acme", "workspace": "main"}


@pytest.mark.parametrize("damage", ["deleted", "replaced-by-a-file"])
def test_exams_of_a_loaded_tenant_whose_data_dir_is_damaged_are_503_not_empty(
        client, data_root, damage):
    write_manifest(data_root / "acme" / "data", "EX_ACME")
    assert put(client, "acme").status_code == 201
    assert client.get("/t/acme/exams").get_json()["exams"] == [{"exam_id": "EX_ACME"}]
    shutil.rmtree(data_root / "acme" / "data")
    if damage == "replaced-by-a-file":
        (data_root / "acme" / "data").write_text("not a directory")
    response = client.get("/t/acme/exams")
    assert response.status_code == 503
    assert response.get_json() == {"error": "tenant_storage_unavailable"}
    assert client.get("/t/acme/health").status_code == 200


def test_a_tenant_whose_first_build_outlasts_the_build_wait_is_503_pending(app, client,
                                                                           gated_build):
    assert put(client, "slow").status_code == 201
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(lambda: app.test_client().get("/t/slow/health"))
        assert gated_build.entered.wait(WAIT)
        response = client.get("/t/slow/health")
        assert response.status_code == 503
        assert response.get_json() == {"error": "tenant_pending"}
        assert response.headers["Retry-After"] == "1"
        assert not first.done()
        gated_build.gate.set()
        assert first.result(WAIT).status_code == 200
    assert client.get("/t/slow/health").status_code == 200
    assert gated_build.calls == ["slow"]


def test_concurrent_first_requests_build_the_tenant_once_and_all_succeed(
        app, client, monkeypatch, tenants, gated_build):
    assert put(client, "acme").status_code == 201
    hits = 32
    # Registration reads the tenant's record: hold each reader until all have arrived (or
    # briefly), so that first hits which are not serialised all register at once.
    read_record, arrived = tenants.store.tenants.get, threading.Condition()
    readers = []

    def slow_read(tenant_id):
        with arrived:
            readers.append(tenant_id)
            arrived.notify_all()
            arrived.wait_for(lambda: len(readers) >= hits, timeout=0.5)
        return read_record(tenant_id)

    monkeypatch.setattr(tenants.store.tenants, "get", slow_read)
    barrier = threading.Barrier(hits)

    def first_request():
        request_client = app.test_client()
        barrier.wait(WAIT)
        return request_client.get("/t/acme/exams")

    with ThreadPoolExecutor(hits) as pool:
        futures = [pool.submit(first_request) for _ in range(hits)]
        assert gated_build.entered.wait(WAIT)
        gated_build.gate.set()
        responses = [f.result(WAIT) for f in futures]
    assert [r.status_code for r in responses] == [200] * hits
    assert gated_build.calls == ["acme"]


@pytest.mark.parametrize("next_request", ["/t/acme/health", "/t/other/health"],
                         ids=["next-request-same-tenant", "next-request-other-tenant"])
def test_a_request_in_flight_during_a_config_change_is_served_by_the_new_config(
        app, client, data_root, gated_build, next_request):
    write_manifest(data_root / "old", "EX_OLD")
    write_manifest(data_root / "new", "EX_NEW")
    assert put(client, "other").status_code == 201
    assert put(client, "acme", {"data_dir": str(data_root / "old")}).status_code == 201
    with ThreadPoolExecutor(1) as pool:
        in_flight = pool.submit(lambda: app.test_client().get("/t/acme/exams"))
        assert gated_build.entered.wait(WAIT)
        assert put(client, "acme", {"data_dir": str(data_root / "new")}).status_code == 200
        # The next tenant request in this worker notices the change and unloads acme.
        assert client.get(next_request).status_code == 200
        gated_build.gate.set()
        response = in_flight.result(WAIT)
    assert response.status_code == 200
    assert response.get_json() == {"tenant": "acme", "exams": [{"exam_id": "EX_NEW"}]}


def test_a_new_data_dir_is_served_on_the_next_request(client, data_root):
    write_manifest(data_root / "first", "EX_FIRST")
    write_manifest(data_root / "second", "EX_SECOND")
    assert put(client, "acme", {"data_dir": str(data_root / "first")}).status_code == 201
    assert client.get("/t/acme/exams").get_json()["exams"] == [{"exam_id": "EX_FIRST"}]
    assert put(client, "acme", {"data_dir": str(data_root / "second")}).status_code == 200
    assert client.get("/t/acme/exams").get_json()["exams"] == [{"exam_id": "EX_SECOND"}]


@pytest.mark.parametrize("target", ["outside-data-root", "other-tenants-data-dir"])
@pytest.mark.parametrize("link", ["manifest", "exam-directory"])
def test_a_manifest_symlinked_out_of_the_data_dir_is_not_listed(client, data_root, tmp_path,
                                                                target, link):
    secret_dir = (tmp_path / "outside" if target == "outside-data-root"
                  else data_root / "victim" / "data")
    secret = write_manifest(secret_dir, "EX_SECRET")
    assert put(client, "victim").status_code == 201
    data_dir = data_root / "acme" / "data"
    write_manifest(data_dir, "EX_OWN")
    if link == "manifest":
        (data_dir / "exams" / "EX_LINK").mkdir(parents=True)
        (data_dir / "exams" / "EX_LINK" / "manifest.json").symlink_to(secret)
    else:
        (data_dir / "exams" / "EX_LINK").symlink_to(secret.parent, target_is_directory=True)
    assert put(client, "acme").status_code == 201
    response = client.get("/t/acme/exams")
    assert response.status_code == 200
    assert response.get_json() == {"tenant": "acme", "exams": [{"exam_id": "EX_OWN"}]}
