"""An admin request is one transaction, its answer included, on both store backends."""
from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from app import close_app, create_app
from app.store import StoreUnavailable
from app.admin.schemas import DeletedSchema, TenantSchema
from app.services import services_of
from tests.admin.helpers import AUTH, KEYS, metric, put


@pytest.fixture(params=["sqlite", "postgres"])
def app(request, tmp_path, monkeypatch):
    for name in ("TENANT_ADMIN_KEY", "TENANT_DB_URL", "PROMETHEUS_MULTIPROC_DIR",
                 "LIMIT_STATE_DIR"):
        monkeypatch.delenv(name, raising=False)
    config = {"TESTING": False,  # a failure is answered 500, as in production
              "TENANT_DB_PATH": str(tmp_path / "store" / "tenants.sqlite3"),
              "TENANT_DATA_ROOT": str(tmp_path / "tenants"),
              "TENANT_ADMIN_KEY": KEYS[0], "MAX_TENANT_LABELS": 2}
    if request.param == "postgres":
        config["TENANT_DB_URL"] = request.getfixturevalue("postgres_url")
    app = create_app(config)
    yield app
    close_app(app)


@pytest.fixture
def store(app):
    return services_of(app).store


@pytest.fixture
def failing_render(monkeypatch):
    def fail(self, obj, *args, **kwargs):
        raise RuntimeError("rendering the answer failed")

    def arm():
        monkeypatch.setattr(TenantSchema, "dump", fail)
        monkeypatch.setattr(DeletedSchema, "dump", fail)
    return arm


def stored(store):
    return store.version(), [r.as_dict() for r in store.tenants.list()]


@pytest.mark.parametrize("existing", [False, True], ids=["create", "replace"])
def test_a_put_whose_answer_fails_to_render_changes_nothing(client, store, failing_render,
                                                            existing):
    if existing:
        assert put(client, "acme", {"extra": {"plan": "old"}}).status_code == 201
    before = stored(store)
    failing_render()
    response = put(client, "acme", {"extra": {"plan": "new"}, "hosts": ["acme.example"]})
    assert response.status_code == 500
    assert response.get_json() == {"error": "internal_error"}
    assert stored(store) == before
    assert store.tenants.tenant_for_host("acme.example") is None


def tree(app) -> dict:
    root = Path(services_of(app).settings.data_root)
    return {str(p.relative_to(root)): p.read_bytes() if p.is_file() else None
            for p in sorted(root.rglob("*"))}


@pytest.mark.parametrize("purge", ["0", "1"])
def test_a_delete_whose_answer_fails_to_render_changes_nothing(app, client, store,
                                                               failing_render, purge):
    assert put(client, "acme").status_code == 201
    manifest = Path(store.tenants.get("acme").data_dir) / "exams" / "EX1" / "manifest.json"
    manifest.parent.mkdir(parents=True)
    manifest.write_text('{"exam_id": "EX1"}')
    before = stored(store), tree(app)
    failing_render()
    response = client.delete(f"/admin/tenants/acme?purge={purge}", headers=AUTH)
    assert response.status_code == 500
    assert (stored(store), tree(app)) == before  # the directories were put back


def test_a_purge_the_store_refuses_puts_the_directories_back(app, client, store, monkeypatch):
    assert put(client, "acme").status_code == 201
    before = stored(store), tree(app)

    def refuse(tenant_id):
        raise StoreUnavailable("disk full")

    monkeypatch.setattr(store.tenants, "purge", refuse)
    response = client.delete("/admin/tenants/acme?purge=1", headers=AUTH)
    assert response.status_code == 503
    assert response.get_json() == {"error": "store_unavailable"}
    assert (stored(store), tree(app)) == before


def test_a_refusal_keeps_what_refusing_wrote(client, store):
    # The label cap's refusal is counted in the same request that is refused.
    assert put(client, "one").status_code == 201
    assert put(client, "two").status_code == 201
    before = metric(client, "tenant_label_rejections_total") or 0
    assert put(client, "three").status_code == 429
    assert metric(client, "tenant_label_rejections_total") == before + 1
    assert [r.tenant_id for r in store.tenants.list()] == ["one", "two"]


def test_a_purge_that_cannot_move_a_directory_aside_changes_nothing(app, client, store,
                                                                    monkeypatch):
    assert put(client, "acme").status_code == 201
    before = stored(store), tree(app)
    rename = os.rename

    def second_move_fails(source, target):
        if ".purged-" in str(target) and Path(source).name == "uploads":
            raise OSError(errno.EBUSY, "Device or resource busy")
        rename(source, target)

    monkeypatch.setattr(os, "rename", second_move_fails)
    response = client.delete("/admin/tenants/acme?purge=1", headers=AUTH)
    assert response.status_code == 503
    assert response.get_json() == {"error": "tenant_storage_unavailable"}
    assert (stored(store), tree(app)) == before
