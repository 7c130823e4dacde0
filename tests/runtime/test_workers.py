"""Two apps on one store stand in for two gunicorn workers, so the test decides which worker
answers each request: what one worker decides about a tenant, the other follows."""
from __future__ import annotations

import shutil

import pytest

from app import close_app, create_app
from app.services import services_of
from tests.runtime.helpers import AUTH, KEY, put, recheck, write_manifest

UNAVAILABLE = {"error": "tenant_unavailable"}


@pytest.fixture
def other_app(app, tmp_path):
    """A second worker: same store, same data root, its own registry."""
    other = create_app({"TESTING": True, "TENANT_ADMIN_KEY": KEY,
                        "TENANT_DB_PATH": str(tmp_path / "store" / "tenants.sqlite3"),
                        "TENANT_DATA_ROOT": str(tmp_path / "tenants")})
    yield other
    close_app(other)


@pytest.fixture
def other(other_app):
    return other_app.test_client()


@pytest.fixture
def builds(monkeypatch, app, other_app):
    """Which worker ("first" or "other") built which tenant, in order."""
    calls = []
    for name, an_app in (("first", app), ("other", other_app)):
        builder = services_of(an_app).tenants.factory
        monkeypatch.setattr(builder, "build",
                            lambda record, b=builder.build, n=name: calls.append(
                                (n, record.tenant_id)) or b(record))
    return calls


def test_a_failed_build_in_one_worker_is_followed_by_the_other_without_building(
        client, other, data_root, builds):
    blocker = data_root / "blocker"
    blocker.write_text("a regular file where a directory should be")
    assert put(client, "acme", {"data_dir": str(blocker / "data")}).status_code == 201
    assert client.get("/t/acme/health").get_json() == UNAVAILABLE
    blocker.unlink()  # the fault is gone, but the decision stands until a recheck
    (blocker / "data").mkdir(parents=True)
    assert other.get("/t/acme/health").get_json() == UNAVAILABLE
    assert builds == [("first", "acme")]

    response = recheck(other, "acme")
    assert response.get_json()["health"]["state"] == "healthy"
    for worker in (client, other):
        response = worker.get("/t/acme/health")
        assert response.status_code == 200
        assert response.get_json()["tenant"] == "acme"


def test_a_recheck_that_disables_a_tenant_unloads_it_in_every_worker(client, other, app,
                                                                     other_app, data_root):
    assert put(client, "acme").status_code == 201
    for worker in (client, other):
        assert worker.get("/t/acme/health").status_code == 200
    other_registry = services_of(other_app).tenants.registry
    assert other_registry.is_built("acme")
    shutil.rmtree(data_root / "acme" / "data")
    (data_root / "acme" / "data").write_text("not a directory")
    assert recheck(client, "acme").get_json()["health"]["state"] == "disabled"
    assert other.get("/t/acme/health").get_json() == UNAVAILABLE
    assert not other_registry.is_built("acme")  # its runtime (and workers) were stopped
    assert other.get("/tenant/acme/readyz").get_json() == \
        {"tenant": "acme", "status": "not ready", "reason": "health"}


def test_an_unverified_tenant_keeps_serving_in_every_worker(client, other, data_root):
    assert put(client, "acme").status_code == 201
    for worker in (client, other):
        assert worker.get("/t/acme/health").status_code == 200
    shutil.rmtree(data_root / "acme" / "data")
    assert recheck(client, "acme").get_json()["health"]["state"] == "unverified"
    for worker in (client, other):
        assert worker.get("/t/acme/health").status_code == 200
        assert worker.get("/tenant/acme/readyz").get_json() == \
            {"tenant": "acme", "status": "error", "reason": "check_failed"}


def test_a_config_change_in_one_worker_is_served_by_the_other_on_its_next_request(
        client, other, data_root):
    write_manifest(data_root / "one", "EX_ONE")
    write_manifest(data_root / "two", "EX_TWO")
    assert put(client, "acme", {"data_dir": str(data_root / "one")}).status_code == 201
    assert other.get("/t/acme/exams").get_json()["exams"] == [{"exam_id": "EX_ONE"}]
    assert put(client, "acme", {"data_dir": str(data_root / "two")}).status_code == 200
    assert other.get("/t/acme/exams").get_json()["exams"] == [{"exam_id": "EX_TWO"}]
    assert client.delete("/admin/tenants/acme", headers=AUTH).status_code == 200
    assert other.get("/t/acme/exams").get_json() == {"error": "tenant_disabled"}


def test_a_recheck_of_a_vanished_data_dir_answers_the_same_in_every_worker(
        client, other, data_root):
    write_manifest(data_root / "acme" / "data", "EX_ACME")
    assert put(client, "acme").status_code == 201
    assert client.get("/t/acme/health").status_code == 200  # loaded in the first worker only
    shutil.rmtree(data_root / "acme" / "data")
    assert recheck(client, "acme").get_json()["health"]["state"] == "unverified"
    assert recheck(other, "acme").get_json()["health"]["state"] == "unverified"
    assert not (data_root / "acme" / "data").exists()
