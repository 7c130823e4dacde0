"""An admin request is one transaction, its answer included, on both store backends."""
from __future__ import annotations

import pytest

from app import close_app, create_app
from app.admin.schemas import DeletedSchema, TenantSchema
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
    return app.extensions["tenantgate.store"]


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


@pytest.mark.parametrize("purge", ["0", "1"])
def test_a_delete_whose_answer_fails_to_render_changes_nothing(client, store, failing_render,
                                                               purge):
    assert put(client, "acme").status_code == 201
    before = stored(store)
    failing_render()
    response = client.delete(f"/admin/tenants/acme?purge={purge}", headers=AUTH)
    assert response.status_code == 500
    assert stored(store) == before


def test_a_refusal_keeps_what_refusing_wrote(client, store):
    # The label cap's refusal is counted in the same request that is refused.
    assert put(client, "one").status_code == 201
    assert put(client, "two").status_code == 201
    before = metric(client, "tenant_label_rejections_total") or 0
    assert put(client, "three").status_code == 429
    assert metric(client, "tenant_label_rejections_total") == before + 1
    assert [r.tenant_id for r in store.tenants.list()] == ["one", "two"]
