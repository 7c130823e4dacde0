"""Apps on both store backends with the admin keys and cap of the apply and audit tests,
and tenant folders to apply to them. Test modules import the fixtures they use."""
from __future__ import annotations

import hashlib
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest
import yaml

from app import close_app, create_app
from app.services import services_of

ADMIN_KEYS = ("apply-admin-key-3d9f01", "apply-admin-key-b7c245")  # rotation: both valid
ADMIN_KEY = ADMIN_KEYS[0]
API_KEY = "apply-api-key-55e0aa"
ADMIN = {"X-Admin-Key": ADMIN_KEY}
CAP = 5
BACKENDS = ["sqlite", "postgres"]


@contextmanager
def app_on(request, tmp_path, monkeypatch) -> Iterator:
    """An app on ``request.param``'s backend, with the keys and cap above."""
    for name in ("TENANT_ADMIN_KEY", "TENANT_API_KEY", "TENANT_DB_URL",
                 "PROMETHEUS_MULTIPROC_DIR", "CHAOS_ENABLED", "LIMIT_STATE_DIR"):
        monkeypatch.delenv(name, raising=False)
    config = {"TESTING": True,
              "TENANT_DB_PATH": str(tmp_path / "store" / "tenants.sqlite3"),
              "TENANT_DATA_ROOT": str(tmp_path / "tenants"),
              "TENANT_ADMIN_KEY": ",".join(ADMIN_KEYS), "TENANT_API_KEY": API_KEY,
              "MAX_TENANT_LABELS": CAP,
              "DEFAULT_TENANT": "", "STORAGE_RESERVE_BYTES": 1 << 20}
    if request.param == "postgres":
        config["TENANT_DB_URL"] = request.getfixturevalue("postgres_url")
    app = create_app(config)
    try:
        yield app
    finally:
        close_app(app)


@pytest.fixture(params=BACKENDS)
def app(request, tmp_path, monkeypatch):
    with app_on(request, tmp_path, monkeypatch) as app:
        yield app


@pytest.fixture
def store(app):
    return services_of(app).store


@pytest.fixture
def folder(tmp_path) -> Path:
    path = tmp_path / "tenants-in-git"
    path.mkdir()
    return path


def write_tenant(folder: Path, tenant: str, config: dict | None = None, *,
                 routing: dict | None = None, budgets: dict | None = None) -> Path:
    """DIR/<tenant>/tenant.yaml (and routing.yaml, budgets.yaml when given)."""
    home = folder / tenant
    home.mkdir(exist_ok=True)
    (home / "tenant.yaml").write_text(yaml.safe_dump(config or {}))
    for name, content in (("routing.yaml", routing), ("budgets.yaml", budgets)):
        if content is not None:
            (home / name).write_text(yaml.safe_dump(content))
    return home


def stored(store) -> dict:
    """Every tenant's stored config (no timestamps or health): what apply must match."""
    return {r.tenant_id: {k: v for k, v in r.as_dict().items()
                          if k not in ("created_at", "updated_at", "health")}
            for r in store.tenants.list()}


def fingerprint(key: str) -> str:
    """The audit actor of a key, computed here independently of the product's code."""
    return "key:" + hashlib.sha256(key.encode()).hexdigest()[:8]


def audit(store, tenant=None) -> list:
    return [(e.action, e.tenant, e.fields, e.actor)
            for e in reversed(store.audit.entries(tenant, 1000))]
