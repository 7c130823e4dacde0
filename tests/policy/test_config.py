"""``models`` and ``budget`` in the tenant config: stored exactly, hostile input refused."""
from __future__ import annotations

import json

import pytest

from app.services import services_of
from tests.policy.conftest import ADMIN, put

POLICY = {"models": {"allowed": ["model-a", "model-b"]},
          "budget": {"daily_cap_usd": 5.0, "max_per_request_usd": 0.123456}}


def test_policy_is_stored_in_micro_dollars_and_answered_in_usd(app):
    client = app.test_client()
    response = put(client, "acme", POLICY)
    assert response.status_code == 201
    assert response.get_json()["models"] == POLICY["models"]
    assert response.get_json()["budget"] == POLICY["budget"]
    record = services_of(app).store.tenants.get("acme")
    assert (record.daily_cap_micros, record.max_request_micros) == (5_000_000, 123_456)
    assert record.allowed_models == ["model-a", "model-b"]
    assert client.get("/admin/tenants/acme", headers=ADMIN).get_json()["budget"] == \
        POLICY["budget"]


def test_omitted_policy_means_unrestricted(app):
    client = app.test_client()
    assert put(client, "acme", POLICY).status_code == 201
    body = put(client, "acme", {}).get_json()
    assert (body["models"], body["budget"]) == ({}, {})
    record = services_of(app).store.tenants.get("acme")
    assert (record.allowed_models, record.daily_cap_micros) == (None, None)


HOSTILE = [
    {"budget": {"daily_cap_usd": -1}},
    {"budget": {"daily_cap_usd": "5"}},
    {"budget": {"daily_cap_usd": True}},
    {"budget": {"daily_cap_usd": 1e300}},
    {"budget": {"daily_cap_usd": 10 ** 40}},
    {"budget": {"daily_cap_usd": 0.1234567}},
    {"budget": {"max_per_request_usd": -0.000001}},
    {"budget": {"daily_cap_usd": None}},
    {"budget": {"daily_cap_usd": {"nested": [1, 2]}}},
    {"budget": {"daily_cap": 5}},
    {"budget": [5]},
    {"budget": "5"},
    {"models": {"allowed": "model-a"}},
    {"models": {"allowed": [["model-a"]]}},
    {"models": {"allowed": [{"name": "model-a"}]}},
    {"models": {"allowed": ["model-a", "model-a"]}},
    {"models": {"allowed": ["../etc"]}},
    {"models": {"allowed": ["x" * 129]}},
    {"models": {"allowed": [f"m{i}" for i in range(33)]}},
    {"models": {"allowed": ["model-a"], "denied": ["model-b"]}},
    {"models": ["model-a"]},
]


@pytest.mark.parametrize("body", HOSTILE, ids=[json.dumps(b)[:40] for b in HOSTILE])
def test_hostile_policy_is_a_400_and_writes_nothing(app, body):
    client = app.test_client()
    assert put(client, "acme", POLICY).status_code == 201
    store = services_of(app).store
    before = store.version(), store.tenants.get("acme").as_dict()
    response = put(client, "acme", body)
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_body"
    assert set(response.get_json()["fields"]) <= {"budget", "models"}
    assert (store.version(), store.tenants.get("acme").as_dict()) == before
    assert put(client, "fresh", body).status_code == 400
    assert store.tenants.get("fresh") is None


@pytest.mark.parametrize("raw", [b'{"budget": {"daily_cap_usd": NaN}}',
                                 b'{"budget": {"daily_cap_usd": Infinity}}',
                                 b'{"budget": {"daily_cap_usd": 1' + b"0" * 5000 + b'}}'])
def test_non_json_numbers_are_a_400_and_write_nothing(app, raw):
    client = app.test_client()
    response = client.put("/admin/tenants/acme", data=raw, headers=ADMIN,
                          content_type="application/json")
    assert response.status_code == 400
    assert response.get_json()["error"] in ("malformed_json", "invalid_body")
    assert services_of(app).store.tenants.get("acme") is None


def test_cli_put_takes_the_policy_and_refuses_a_seventh_decimal(app):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["tenants", "put", "acme", "--model", "model-a",
                                 "--daily-cap-usd", "2.5", "--max-per-request-usd", "0.25"])
    assert result.exit_code == 0, result.output
    record = services_of(app).store.tenants.get("acme")
    assert (record.allowed_models, record.daily_cap_micros, record.max_request_micros) == \
        (["model-a"], 2_500_000, 250_000)
    for bad in ("0.0000001", "NaN", "-1", "five"):
        result = runner.invoke(args=["tenants", "put", "acme", "--daily-cap-usd", bad])
        assert result.exit_code == 1
    assert services_of(app).store.tenants.get("acme").daily_cap_micros == 2_500_000


def test_openapi_describes_the_policy(app):
    spec = app.test_client().get("/openapi.json").get_json()
    schemas = spec["components"]["schemas"]
    put_schema = next(s for name, s in schemas.items() if name.startswith("TenantPut"))
    assert {"models", "budget"} <= set(put_schema["properties"])
    assert any(path.endswith("/chaos/spend") for path in spec["paths"])
