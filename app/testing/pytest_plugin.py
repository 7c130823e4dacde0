"""Tenantgate's pytest plugin (contract sec. 16): an app per test, its client, tenants.

Installed with the package (entry point ``pytest11``), so an application team's suite
needs no conftest of its own:

- ``tenantgate_app``: a fresh app on a temporary store and data root, admin key
  ``test-admin-key``, API key ``test-api-key``; closed after the test. Override the
  ``tenantgate_settings`` fixture to change settings.
- ``tenantgate_client``: its Flask test client.
- ``make_tenant(tenant_id, **config)``: registers a tenant through the store, checked
  as ``PUT /admin/tenants/<t>`` checks its body (fields data_dir, uploads_dir, enabled,
  hosts, limits, extra, quota; a bad one raises marshmallow's ValidationError), and
  returns its record.

Register resources and blueprints on ``tenantgate_app`` before the test's first request.
Environment settings of the machine running the tests are ignored, so a suite behaves
the same everywhere.
"""
from __future__ import annotations

import os
from typing import Any, Callable, Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app import close_app, create_app
from app.admin.schemas import TenantPutSchema
from app.services import services_of
from app.settings import is_setting
from app.store import TenantRecord
from app.tenants.ids import check_tenant_id
from app.tenants.registration import put_tenant

ADMIN_KEY = "test-admin-key"
API_KEY = "test-api-key"


@pytest.fixture
def tenantgate_settings() -> dict[str, Any]:
    """Settings on top of the kit's own (override it in a test module or conftest)."""
    return {}


@pytest.fixture
def tenantgate_app(tmp_path, monkeypatch, tenantgate_settings) -> Iterator[Flask]:
    for name in list(os.environ):
        if is_setting(name) or name == "PROMETHEUS_MULTIPROC_DIR":
            monkeypatch.delenv(name)
    home = tmp_path / "tenantgate"
    config = {
        "TESTING": True,
        "TENANT_DB_PATH": str(home / "store" / "tenants.sqlite3"),
        "TENANT_DATA_ROOT": str(home / "tenants"),
        "TENANT_ADMIN_KEY": ADMIN_KEY,
        "TENANT_API_KEY": API_KEY,
        # A test machine's disk may have less to spare than production keeps free.
        "STORAGE_RESERVE_BYTES": 1 << 20,
        **tenantgate_settings,
    }
    app = create_app(config)
    yield app
    close_app(app)


@pytest.fixture
def tenantgate_client(tenantgate_app) -> FlaskClient:
    return tenantgate_app.test_client()


@pytest.fixture
def make_tenant(tenantgate_app) -> Callable[..., TenantRecord]:
    def make(tenant_id: str, **config: Any) -> TenantRecord:
        check_tenant_id(tenant_id)
        found = services_of(tenantgate_app)
        with tenantgate_app.app_context():  # the schema reads the app's settings
            body = TenantPutSchema().load(config)
        record, _ = put_tenant(found.store, found.settings, tenant_id, body)
        return record
    return make
