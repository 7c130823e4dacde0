"""The policy under test through HTTP, on both store backends, with a clock a test moves."""
from __future__ import annotations

import pytest

from app import close_app, create_app
from app.examples import llm_routes
from app.runtime import register_tenant_blueprint
from tests.policy.routes import spend_blueprint

KEY = "policy-admin-key-5e2a"
ADMIN = {"X-Admin-Key": KEY}
# 2026-03-04 12:00:00 UTC: twelve hours before the day's caps start again.
NOON = 1_772_625_600.0
PRICES = "model-a=1000,model-b=10000,model-c=2000"  # USD per million prompt characters


class Clock:
    def __init__(self, now: float = NOON):
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request):
    return request.param


@pytest.fixture
def extra_settings():
    return {}


@pytest.fixture
def app(request, backend, tmp_path, monkeypatch, clock, extra_settings):
    for name in ("TENANT_ADMIN_KEY", "TENANT_API_KEY", "TENANT_DB_URL",
                 "PROMETHEUS_MULTIPROC_DIR", "CHAOS_ENABLED", "LLM_PRICES"):
        monkeypatch.delenv(name, raising=False)
    config = {"TESTING": False, "TENANT_ADMIN_KEY": KEY, "CHAOS_ENABLED": 1,
              "TENANT_DB_PATH": str(tmp_path / "store" / "tenants.sqlite3"),
              "TENANT_DATA_ROOT": str(tmp_path / "tenants"), "STORAGE_RESERVE_BYTES": 1 << 20,
              "LLM_PRICES": PRICES, "POLICY_CLOCK": clock, **extra_settings}
    if backend == "postgres":
        config["TENANT_DB_URL"] = request.getfixturevalue("postgres_url")
    app = create_app(config)
    llm_routes.init_app(app)
    register_tenant_blueprint(app, spend_blueprint())
    yield app
    close_app(app)


def put(client, tenant: str, body: dict | None = None):
    return client.put(f"/admin/tenants/{tenant}", json={} if body is None else body,
                      headers=ADMIN)


def chaos_spend(client, tenant: str, usd, ms: int = 0, **query):
    return client.post(f"/t/{tenant}/chaos/spend", query_string={"usd": usd, "ms": ms, **query})


def spend(client, tenant: str, model: str, estimate, headers=None, **body):
    return client.post(f"/t/{tenant}/spend", json={"model": model, "estimate": estimate, **body},
                       headers=headers or {})
