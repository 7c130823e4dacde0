"""Hostile admin requests against a real gunicorn (2 workers): refused before any write.

Free JSON over its bounds, limits over theirs: each is a 400 naming the field, and the
store, the files and the app's 5xx count stay as they were. A request whose answer fails
to render after its writes changes nothing either.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from app.free_json import MAX_BYTES, MAX_DEPTH
from tests.security.serving_state import ADMIN
from tests.support.server import ROOT, running_server

pytestmark = pytest.mark.gunicorn

# Bodies large enough to carry free JSON past its own 64 KiB bound.
ENV = {"MAX_JSON_BYTES": str(4 * MAX_BYTES)}


@pytest.fixture(scope="module")
def seeded_env():
    return ENV


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


# -- limits: how many, how large ------------------------------------------------------------------
# Four defaults (llm_total, llm_student, llm_teacher, ocr) count towards the 16.
LIMITS_OVER = {
    "2**63": {"ocr": 2 ** 63},
    "10001": {"ocr": 10_001},
    "zero": {"ocr": 0},
    "negative": {"ocr": -1},
    "17 names with the defaults": {f"extra_{i}": 1 for i in range(13)},
    "a float": {"ocr": 2.5},
}


@pytest.mark.parametrize("limits", LIMITS_OVER.values(), ids=LIMITS_OVER.keys())
@pytest.mark.parametrize("tenant", ["acme", "newco"])
def test_limits_over_their_bounds_are_400_and_store_nothing(server, unchanged, tenant, limits):
    response = server.put(f"/admin/tenants/{tenant}", json={"limits": limits}, headers=ADMIN)
    assert_refused(response, "limits")
    unchanged()


def test_limits_at_their_bounds_are_stored(server):
    limits = {"ocr": 10_000, **{f"extra_{i}": 1 for i in range(12)}}
    response = server.put("/admin/tenants/busy", json={"limits": limits}, headers=ADMIN)
    assert response.status_code == 201, response.text[:300]
    assert server.get("/admin/tenants/busy", headers=ADMIN).json()["limits"] == limits


# -- an answer that fails after the writes ---------------------------------------------------------
@pytest.fixture(scope="module")
def failing_render(tmp_path_factory):
    """A server whose admin answers fail to render for tenants named boom-*."""
    sandbox = tmp_path_factory.mktemp("render")
    with running_server(sandbox, workers=2, env={"TENANT_ADMIN_KEY": ADMIN["X-Admin-Key"]},
                        app_module="tests.support.failing_render_wsgi:app") as server:
        yield server, sandbox
    assert ADMIN["X-Admin-Key"] not in server.log()


def cli(sandbox, *args) -> subprocess.CompletedProcess:
    """``flask tenants ...`` on the server's store (the ordinary app: it renders fine)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TENANT")}
    env.update({"TENANT_DB_PATH": str(sandbox / "store" / "tenants.sqlite3"),
                "TENANT_DATA_ROOT": str(sandbox / "tenants")})
    return subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "tenants", *args],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("existing", [False, True], ids=["create", "replace"])
def test_a_put_whose_answer_fails_to_render_stores_nothing(failing_render, existing):
    server, sandbox = failing_render
    tenant = f"boom-{'old' if existing else 'new'}"
    if existing:
        created = cli(sandbox, "put", tenant, "--extra", '{"plan": "old"}')
        assert created.returncode == 0, created.stderr
    before = cli(sandbox, "list").stdout, cli(sandbox, "show", tenant).stdout
    response = server.put(f"/admin/tenants/{tenant}", json={"extra": {"plan": "new"}},
                          headers=ADMIN)
    assert response.status_code == 500
    assert response.json() == {"error": "internal_error"}
    # Read with the ordinary app (this server's answers for boom-* never render).
    assert (cli(sandbox, "list").stdout, cli(sandbox, "show", tenant).stdout) == before
    assert ("boom-old" in before[0]) is existing
