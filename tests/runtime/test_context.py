"""Tenant context: current_tenant() in requests and outside them, namespaced caches, and
application teams' own tenant-scoped blueprints."""
from __future__ import annotations

import flask
import pytest

from app import close_app, create_app
from app.runtime import (CrossTenantKeyError, NamespacedCache, TenantContext, current_tenant,
                         register_tenant_blueprint, tenant_runtime, use_tenant)
from tests.runtime.helpers import KEY, put
from tests.support.metrics_text import value

STRICT = {"TENANT_ADMIN_KEY": KEY, "ENABLE_TENANCY_STRICT": 1}
LENIENT = {"TENANT_ADMIN_KEY": KEY, "ENABLE_TENANCY_STRICT": 0}


def fallbacks(client, component: str) -> float | None:
    text = client.get("/metrics").get_data(as_text=True)
    return value(text, "tenancy_fallback_total", tenant="default", workspace="main",
                 component=component)


def team_blueprint() -> flask.Blueprint:
    """What an application team writes: plain Flask, no tenant plumbing of its own."""
    bp = flask.Blueprint("team_reports", __name__)

    @bp.route("/whoami")
    def whoami():
        context = current_tenant("team_reports")
        runtime = tenant_runtime()
        runtime.cache.set("last", context.workspace)
        return {"is_context": isinstance(context, TenantContext), "tenant": context.tenant,
                "workspace": context.workspace, "runtime_tenant": runtime.tenant,
                "cache_key": runtime.cache.key("last")}

    return bp


@pytest.fixture
def team_app(tmp_path, monkeypatch):
    """A fresh app with the team's blueprint registered before its first request."""
    for name in ("TENANT_ADMIN_KEY", "TENANT_DB_URL", "PROMETHEUS_MULTIPROC_DIR"):
        monkeypatch.delenv(name, raising=False)
    app = create_app({"TESTING": True, "TENANT_ADMIN_KEY": KEY, "DEFAULT_TENANT": "home",
                      "TENANT_DB_PATH": str(tmp_path / "team" / "tenants.sqlite3"),
                      "TENANT_DATA_ROOT": str(tmp_path / "team-tenants")})
    register_tenant_blueprint(app, team_blueprint())
    yield app
    close_app(app)


@pytest.mark.parametrize("path, headers, tenant, workspace", [
    ("/t/acme/whoami", {}, "acme", "main"),
    ("/t/acme/whoami", {"X-Workspace": "ws-2"}, "acme", "ws-2"),
    ("/t/other/whoami", {"X-Workspace": "lab"}, "other", "lab"),
    ("/whoami", {}, "home", "main"),
    ("/whoami", {"Host": "Reports.Acme.Example:8443"}, "acme", "main"),
])
def test_a_team_blueprint_is_served_per_tenant_with_the_request_tenant_context(
        team_app, path, headers, tenant, workspace):
    client = team_app.test_client()
    for name, body in (("acme", {"hosts": ["reports.acme.example"]}), ("other", {}),
                       ("home", {})):
        assert put(client, name, body).status_code == 201
    response = client.get(path, headers=headers)
    assert response.status_code == 200
    assert response.get_json() == {
        "is_context": True, "tenant": tenant, "workspace": workspace, "runtime_tenant": tenant,
        "cache_key": f"{tenant}:{workspace}:last"}


def test_a_team_blueprint_answers_unknown_and_disabled_tenants_before_its_view(team_app):
    client = team_app.test_client()
    assert client.get("/t/nobody/whoami").get_json() == {"error": "unknown_tenant"}
    assert put(client, "acme").status_code == 201
    assert client.delete("/admin/tenants/acme", headers={"X-Admin-Key": KEY}).status_code == 200
    response = client.get("/t/acme/whoami")
    assert response.status_code == 503
    assert response.get_json() == {"error": "tenant_disabled"}


def test_the_builtin_health_route_reports_the_request_context(client):
    assert put(client, "acme").status_code == 201
    response = client.get("/t/acme/health", headers={"X-Workspace": "ws-7"})
    assert response.get_json() == {"status": "ok", "tenant": "acme", "workspace": "ws-7"}


@pytest.mark.parametrize("settings_overrides", [STRICT])
def test_outside_any_tenant_context_strict_mode_raises(app, client):
    with app.app_context():
        with pytest.raises(RuntimeError, match="no tenant context in nightly-job"):
            current_tenant("nightly-job")
    assert fallbacks(client, "nightly-job") is None


@pytest.mark.parametrize("settings_overrides", [LENIENT])
def test_outside_any_tenant_context_lenient_mode_falls_back_and_counts_it(app, client):
    assert fallbacks(client, "nightly-job") is None
    with app.app_context():
        for _ in range(2):
            assert current_tenant("nightly-job") == TenantContext("default", "main")
    assert fallbacks(client, "nightly-job") == 2.0


@pytest.mark.parametrize("settings_overrides", [STRICT, LENIENT], ids=["strict", "lenient"])
def test_background_work_uses_the_tenant_it_was_given_without_a_fallback(app, client):
    with app.app_context(), use_tenant(TenantContext("acme", "batch")):
        assert current_tenant("worker") == TenantContext("acme", "batch")
    assert fallbacks(client, "worker") is None


def test_current_tenant_needs_an_application_context():
    with pytest.raises(RuntimeError, match="application context"):
        current_tenant("script")


def test_namespaced_keys_are_tenant_workspace_key():
    cache = NamespacedCache("acme")
    context = TenantContext("acme", "ws-2")
    assert cache.key("report", context) == "acme:ws-2:report"
    with use_tenant(context):
        cache.set("report", 42)
        assert cache.get("report") == 42
    assert cache.get_namespaced("acme:ws-2:report") == 42
    assert cache.get_namespaced("acme:main:report", "missing") == "missing"


@pytest.mark.parametrize("key", ["other:main:report", "acmex:main:report", "acme-main-report",
                                 "acme:report", ":acme:main:report", "ACME:main:report"])
@pytest.mark.parametrize("operation", ["get", "set"])
def test_a_key_outside_the_tenants_namespace_is_refused(key, operation):
    cache = NamespacedCache("acme")
    with pytest.raises(CrossTenantKeyError):
        if operation == "get":
            cache.get_namespaced(key)
        else:
            cache.set_namespaced(key, "stolen")
    assert len(cache) == 0


def test_a_cache_refuses_a_context_of_another_tenant():
    cache = NamespacedCache("acme")
    with pytest.raises(CrossTenantKeyError):
        cache.key("report", TenantContext("other", "main"))
    with use_tenant(TenantContext("other", "main")), pytest.raises(CrossTenantKeyError):
        cache.set("report", "leak")
    assert len(cache) == 0
