"""/openapi.json describes every route the app serves, its error shape and its key schemes."""
from __future__ import annotations

import re

import pytest

# Left out of the comparison either way (the spec may or may not describe them).
UNDOCUMENTED = {"/metrics", "/openapi.json"}
DOC_METHODS = {"get", "put", "post", "delete", "patch"}


@pytest.fixture
def spec(client):
    response = client.get("/openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    return response.json


def openapi_path(rule: str) -> str:
    """Flask's /a/<tenant> (or /a/<string:tenant>) is OpenAPI's /a/{tenant}."""
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


def app_routes(app) -> dict[str, set[str]]:
    routes: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static" or rule.rule in UNDOCUMENTED:
            continue
        routes.setdefault(openapi_path(rule.rule), set()).update(
            m.lower() for m in rule.methods if m.lower() in DOC_METHODS)
    return routes


def test_spec_is_openapi_3(spec):
    assert spec["openapi"].startswith("3.")
    assert spec["info"]["title"] == "Tenantgate"


def test_every_route_and_method_is_documented(app, spec):
    documented = {path: {m for m in ops if m in DOC_METHODS}
                  for path, ops in spec["paths"].items() if path not in UNDOCUMENTED}
    assert documented == app_routes(app)


def test_admin_routes_are_in_the_spec(spec):
    assert {"/admin/tenants", "/admin/tenants/{tenant}",
            "/admin/tenants/{tenant}/recheck"} <= set(spec["paths"])
    assert set(spec["paths"]["/admin/tenants/{tenant}"]) >= {"get", "put", "delete"}


def test_error_schema_has_an_error_property(spec):
    error = spec["components"]["schemas"]["Error"]
    assert error["properties"]["error"]["type"] == "string"
    assert "error" in error["required"]


def test_admin_key_security_scheme_is_declared(spec):
    schemes = spec["components"]["securitySchemes"]
    assert {"type": "apiKey", "in": "header", "name": "X-Admin-Key"} in schemes.values()


def test_every_admin_operation_requires_the_admin_key(spec):
    name = next(n for n, s in spec["components"]["securitySchemes"].items()
                if s.get("name") == "X-Admin-Key")
    for path, ops in spec["paths"].items():
        if path.startswith("/admin/"):
            for method in set(ops) & DOC_METHODS:
                assert ops[method].get("security") == [{name: []}], (method, path)


def test_admin_put_documents_its_answers(spec):
    put = spec["paths"]["/admin/tenants/{tenant}"]["put"]
    assert {"200", "201", "400", "401", "409", "429"} <= set(put["responses"])
    assert "requestBody" in put
    body_ref = put["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    body = spec["components"]["schemas"][body_ref.rsplit("/", 1)[-1]]
    assert set(body["properties"]) == {"data_dir", "uploads_dir", "enabled", "hosts",
                                       "limits", "extra", "quota", "models",
                                       "budget", "workspaces"}


def test_apply_and_audit_are_documented(spec):
    apply = spec["paths"]["/admin/apply"]["post"]
    assert {"200", "400", "401"} <= set(apply["responses"]) and "requestBody" in apply
    audit = spec["paths"]["/admin/audit"]["get"]
    assert {"200", "400", "401"} <= set(audit["responses"])
    assert {p["name"] for p in audit["parameters"]} == {"tenant", "limit", "before"}


def test_error_answers_refer_to_the_error_schema(spec):
    responses = spec["components"].get("responses", {})
    for name in ("UNAUTHORIZED", "NOT_FOUND", "DEFAULT_ERROR"):
        schema = responses[name]["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/Error"}, name


@pytest.mark.parametrize("settings_overrides", [{}, {"MAX_LIMITS_PER_TENANT": 6}],
                         ids=["default", "six"])
def test_the_document_states_the_bounds_of_limits_and_extra(spec, settings_overrides):
    properties = spec["components"]["schemas"]["TenantPut"]["properties"]
    limits = properties["limits"]
    assert limits["maxProperties"] == int(settings_overrides.get("MAX_LIMITS_PER_TENANT", 16))
    assert limits["additionalProperties"] == {"type": "integer", "minimum": 1,
                                              "maximum": 10000}
    assert "32 levels" in properties["extra"]["description"]
