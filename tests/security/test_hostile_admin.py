"""Hostile admin requests against a real gunicorn (2 workers): refused before any write.

Free JSON over its bounds: a 400 naming the field, and the
store, the files and the app's 5xx count stay as they were.
"""
from __future__ import annotations

import json

import pytest

from app.free_json import MAX_BYTES, MAX_DEPTH
from tests.security.serving_state import ADMIN, seeded_server, unchanged_check

pytestmark = pytest.mark.gunicorn

# Bodies large enough to carry free JSON past its own 64 KiB bound.
ENV = {"MAX_JSON_BYTES": str(4 * MAX_BYTES)}


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    return tmp_path_factory.mktemp("admin")


@pytest.fixture(scope="module")
def server(sandbox):
    with seeded_server(sandbox, env=ENV) as server:
        yield server


@pytest.fixture
def unchanged(server, sandbox):
    return unchanged_check(server, sandbox / "tenants")


def nested(levels: int) -> str:
    """JSON text of an object ``levels`` deep: {"a": {"a": ... {} ...}}."""
    return '{"a": ' * (levels - 1) + "{}" + "}" * (levels - 1)


def put_raw(server, tenant: str, body: str):
    return server.put(f"/admin/tenants/{tenant}", data=body,
                      headers={**ADMIN, "Content-Type": "application/json"})


def assert_refused(response, field: str, unparsable: bool = False) -> None:
    assert response.status_code == 400, response.text[:300]
    body = response.json()
    if unparsable and body == {"error": "malformed_json"}:
        return  # too deep for the JSON parser itself: refused before the schema
    assert body["error"] == "invalid_body" and set(body["fields"]) == {field}, body


# -- free JSON: depth and size -------------------------------------------------------------------
PADDING = MAX_BYTES - len(json.dumps({"pad": ""}))
OVER_BOUNDS = {
    "500 levels": nested(500),
    "975 levels": nested(975),
    f"{MAX_DEPTH + 1} levels": nested(MAX_DEPTH + 1),
    f"{MAX_DEPTH + 1} levels of arrays": '{"a": ' + "[" * MAX_DEPTH + "]" * MAX_DEPTH + "}",
    "one byte over the size": json.dumps({"pad": "x" * (PADDING + 1)}),
}


@pytest.mark.parametrize("extra", OVER_BOUNDS.values(), ids=OVER_BOUNDS.keys())
@pytest.mark.parametrize("tenant", ["acme", "deep"])
def test_extra_over_its_bounds_is_400_and_stores_nothing(server, unchanged, tenant, extra):
    assert_refused(put_raw(server, tenant, '{"extra": ' + extra + "}"), "extra",
                   unparsable=len(extra) > 5000)
    unchanged()
    assert server.get("/admin/tenants/deep", headers=ADMIN).status_code == 404


AT_BOUNDS = {f"{MAX_DEPTH} levels": json.loads(nested(MAX_DEPTH)),
             "exactly the size": {"pad": "x" * PADDING}}


@pytest.mark.parametrize("extra", AT_BOUNDS.values(), ids=AT_BOUNDS.keys())
def test_extra_at_its_bounds_is_stored_and_every_listing_still_works(server, extra):
    response = server.put("/admin/tenants/bounded", json={"extra": extra}, headers=ADMIN)
    assert response.status_code in (200, 201), response.text[:300]
    assert server.get("/admin/tenants/bounded", headers=ADMIN).json()["extra"] == extra
    listed = server.get("/admin/tenants", headers=ADMIN)
    assert listed.status_code == 200
    assert "bounded" in [t["tenant_id"] for t in listed.json()["tenants"]]
