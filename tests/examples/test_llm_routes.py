"""The example LLM blueprint: each tenant's model client is a tenant resource."""
from __future__ import annotations

import pytest

from app.examples import llm_routes
from app.runtime import TenantContext, tenant_resource, use_tenant

ADMIN_KEY = "llm-example-admin-key"
ADMIN = {"X-Admin-Key": ADMIN_KEY}


@pytest.fixture
def settings_overrides():
    return {"TENANT_ADMIN_KEY": ADMIN_KEY}


@pytest.fixture
def app(app):
    llm_routes.init_app(app)
    return app


def put(client, tenant: str, extra: dict | None = None) -> int:
    return client.put(f"/admin/tenants/{tenant}", json={"extra": extra or {}},
                      headers=ADMIN).status_code


def test_each_tenant_gets_the_model_of_its_own_config(client):
    assert put(client, "a", {"llm": {"model": "small-1"}}) == 201
    assert put(client, "b") == 201
    assert client.post("/t/a/llm/student").json["model"] == "small-1"
    assert client.post("/t/b/llm/teacher").json["model"] == "echo"


def test_a_bad_model_config_makes_only_that_tenant_unavailable(client):
    assert put(client, "bad", {"llm": {"model": ""}}) == 201
    assert put(client, "good") == 201
    answer = client.post("/t/bad/llm/student")
    assert answer.status_code == 503 and answer.json["error"] == "tenant_unavailable"
    assert client.post("/t/good/llm/student").status_code == 200


def test_a_config_change_closes_the_client_and_builds_a_new_one(app, client):
    assert put(client, "a", {"llm": {"model": "small-1"}}) == 201
    assert client.post("/t/a/llm/student").status_code == 200
    with app.app_context(), use_tenant(TenantContext("a")):
        first = tenant_resource("llm")
    assert put(client, "a", {"llm": {"model": "large-2"}}) == 200
    assert client.post("/t/a/llm/student").json["model"] == "large-2"
    assert first.closed
