"""Hostile input on every surface: each is a clear 4xx JSON error and changes nothing.

"Nothing" is checked, not assumed: the store (config version, every tenant as the admin
API lists it, readiness overrides), every store-rendered ``tenant_*`` metric series and
every file under TENANT_DATA_ROOT are compared before and after each refused request.

One app serves the whole module (it is cheap to snapshot, expensive to rebuild 300 times);
the tenant ``acme`` exists with a config, a readiness override and a processed upload.
"""
from __future__ import annotations

import io
import logging
from pathlib import Path
from urllib.parse import quote

import pytest
import requests

from app import close_app, create_app
from app.services import services_of
from tests.support.metrics_text import label_values, samples
from tests.support.polling import poll
from tests.support.server import running_server

ADMIN_KEYS = ("hostile-admin-key-one-8c1d52", "hostile-admin-key-two-47ae09")
API_KEYS = ("hostile-api-key-one-d3b7f1", "hostile-api-key-two-90c4e6")
ALL_KEYS = ADMIN_KEYS + API_KEYS
ADMIN = {"X-Admin-Key": ADMIN_KEYS[0]}
API = {"X-API-Key": API_KEYS[0]}
KEYS = {**ADMIN, **API}
MAX_JSON_BYTES = 1024 * 1024
ACME = {"hosts": ["acme.example"], "limits": {"ocr": 2}, "extra": {"plan": "gold"}}
ENV_TO_CLEAR = ("TENANT_ADMIN_KEY", "TENANT_API_KEY", "TENANT_DB_URL", "PROMETHEUS_MULTIPROC_DIR",
                "CHAOS_ENABLED", "LIMIT_STATE_DIR", "MAX_JSON_BYTES", "DEFAULT_TENANT")


# -- one app for the module ----------------------------------------------------------------
@pytest.fixture(scope="module")
def sandbox(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("hostile")


@pytest.fixture(scope="module")
def app(sandbox):
    with pytest.MonkeyPatch.context() as patch:
        for name in ENV_TO_CLEAR:
            patch.delenv(name, raising=False)
        app = create_app({
            "TESTING": False,  # errors answered as in production, never raised into the test
            "TENANT_DB_PATH": str(sandbox / "store" / "tenants.sqlite3"),
            "TENANT_DATA_ROOT": str(sandbox / "tenants"),
            "TENANT_ADMIN_KEY": ",".join(ADMIN_KEYS),
            "TENANT_API_KEY": ",".join(API_KEYS),
            "MAX_JSON_BYTES": MAX_JSON_BYTES,
            "CHAOS_ENABLED": "0",
        })
        prepare_acme(app, sandbox)
        yield app
        close_app(app)


@pytest.fixture(scope="module")
def root(app) -> Path:
    return Path(services_of(app).settings.data_root).resolve()


@pytest.fixture(scope="module")
def outside(sandbox) -> Path:
    return sandbox / "outside"


def prepare_acme(app, sandbox: Path) -> None:
    client = app.test_client()
    assert client.put("/admin/tenants/acme", json=ACME, headers=ADMIN).status_code == 201
    assert client.post("/tenant/acme/set_ready", json={"ready": False},
                       headers=API).status_code == 200
    assert client.get("/t/acme/health").status_code == 200
    done = upload(client, "/t/acme", b"baseline", "baseline.txt")
    assert done["state"] == "done"
    root = Path(services_of(app).settings.data_root).resolve()
    (sandbox / "outside").mkdir()
    (root / "escape-link").symlink_to(sandbox / "outside", target_is_directory=True)
    (root / "acme-link").symlink_to(root / "acme" / "data", target_is_directory=True)
    client.get("/metrics")  # record every tenant's observed readiness once


def upload(client, prefix: str, content: bytes, filename: str, headers=None) -> dict:
    response = client.post(f"{prefix}/uploads", data={"file": (io.BytesIO(content), filename)},
                           content_type="multipart/form-data", headers=headers or {})
    assert response.status_code == 202, response.get_data(as_text=True)
    location = response.headers["Location"]
    final = poll(lambda: client.get(location).get_json(),
                 lambda status: status.get("state") in ("done", "failed"))
    return final


def snapshot(app, client, root: Path) -> dict:
    """Everything a refused request must leave exactly as it was."""
    store = services_of(app).store
    listing = client.get("/admin/tenants", headers=ADMIN)
    assert listing.status_code == 200
    text = client.get("/metrics").get_data(as_text=True)
    return {
        "config_version": store.version(),
        "tenants": listing.get_json()["tenants"],
        "overrides": {row.tenant_id: row.ready_override
                      for row in store.tenant_readiness.first(1000)},
        "tenant_series": {key: value for key, value in samples(text).items()
                          if key[0].startswith("tenant_")},
        "files": sorted(str(p.relative_to(root)) for p in root.rglob("*")),
    }


def restore_baseline(app, client) -> None:
    """Put acme back as prepare_acme left it and remove any other tenant (a bug's leftovers)."""
    store = services_of(app).store
    for record in store.tenants.list():
        if record.tenant_id != "acme":
            client.delete(f"/admin/tenants/{record.tenant_id}?purge=1", headers=ADMIN)
    acme = store.tenants.get("acme")
    if acme is None or not acme.enabled or (acme.hosts, acme.limits, acme.extra) != (
            ACME["hosts"], ACME["limits"], ACME["extra"]) or \
            Path(acme.data_dir).parent.name != "acme":
        assert client.put("/admin/tenants/acme", json=ACME, headers=ADMIN).status_code in (200, 201)
    if store.tenant_readiness.get("acme").ready_override is not False:
        client.post("/tenant/acme/set_ready", json={"ready": False}, headers=API)


@pytest.fixture(autouse=True)
def baseline(app, client):
    """Every test starts from the same state, even after a bug changed it."""
    yield
    restore_baseline(app, client)


@pytest.fixture
def unchanged(app, client, root):
    """Call after the hostile request: asserts that nothing changed since the test began."""
    # acme validated and built first: a test before may have re-registered it (pending).
    assert client.get("/t/acme/health").status_code == 200
    before = snapshot(app, client, root)

    def check() -> None:
        assert snapshot(app, client, root) == before

    return check


def assert_json_error(response, status: int | tuple, errors: set | None = None) -> dict:
    statuses = status if isinstance(status, tuple) else (status,)
    assert response.status_code in statuses, response.get_data(as_text=True)[:300]
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert isinstance(body, dict) and isinstance(body.get("error"), str), body
    if errors is not None:
        assert body["error"] in errors, body
    return body


# -- tenant ids on every route ---------------------------------------------------------------
def send(client, route: str, tenant: str, headers=None):
    """One request to ``route`` (a template with {t}) with a body that route would accept."""
    method, template = ROUTES[route]
    path = template.format(t=tenant)
    headers = {**KEYS, **(headers or {})}
    if route == "tenant upload":
        return client.post(path, data={"file": (io.BytesIO(b"x"), "x.txt")},
                           content_type="multipart/form-data", headers=headers)
    body = {"ready": True} if route == "set_ready" else {}
    return client.open(path, method=method, json=body, headers=headers)


ROUTES = {
    "tenant readyz": ("GET", "/tenant/{t}/readyz"),
    "set_ready": ("POST", "/tenant/{t}/set_ready"),
    "admin get": ("GET", "/admin/tenants/{t}"),
    "admin put": ("PUT", "/admin/tenants/{t}"),
    "admin purge": ("DELETE", "/admin/tenants/{t}?purge=1"),
    "admin recheck": ("POST", "/admin/tenants/{t}/recheck"),
    "tenant health": ("GET", "/t/{t}/health"),
    "tenant exams": ("GET", "/t/{t}/exams"),
    "tenant upload": ("POST", "/t/{t}/uploads"),
    "tenant upload status": ("GET", "/t/{t}/uploads/" + "0" * 32),
}

# Ids that reach the {tenant} segment (already URL-encoded where needed): 400 everywhere.
BAD_IDS = {
    "dot dot": "..",
    "encoded dot dot": "%2e%2e",
    "single dot": ".",
    "cyrillic a look-alike": quote("\u0430cme"),
    "fullwidth look-alike": quote("\uff41cme"),
    "10 KB long": "a" * 10240,
    "64 chars": "a" * 64,
    "upper case": "ACME",
    "mixed case": "Acme",
    "trailing newline": "acme%0A",
    "NUL byte": "acme%00",
    "space": "acme%20",
    "underscore": "acme_corp",
    "leading dash": "-acme",
    "quote injection": quote('acme",tenant="evil'),
    "newline injection": quote("acme\ntenant_labels_active 0"),
    "closing brace": quote("acme}"),
    "opening brace": quote("{acme"),
}
# Ids that are not one path segment: no route matches, so 404 (or 405) and nothing else.
SPLIT_IDS = {
    "dot dot slash": "../acme",
    "encoded slash": "acme%2Fevil",
    "encoded dot dot slash": "%2e%2e%2Facme",
    "empty segment": "",
}


@pytest.mark.parametrize("tenant", BAD_IDS.values(), ids=BAD_IDS.keys())
@pytest.mark.parametrize("route", ROUTES)
def test_a_malformed_tenant_id_is_400_on_every_route_and_changes_nothing(
        client, unchanged, route, tenant):
    response = send(client, route, tenant)
    assert_json_error(response, 400, {"invalid_tenant_id"})
    unchanged()


@pytest.mark.parametrize("tenant", SPLIT_IDS.values(), ids=SPLIT_IDS.keys())
@pytest.mark.parametrize("route", ROUTES)
def test_a_tenant_id_that_splits_the_path_matches_no_route_and_changes_nothing(
        client, unchanged, route, tenant):
    response = send(client, route, tenant)
    assert_json_error(response, (400, 404, 405),
                      {"invalid_tenant_id", "not_found", "method_not_allowed"})
    unchanged()


# -- X-Workspace ------------------------------------------------------------------------------
BAD_WORKSPACES = {
    "quote injection": 'team",tenant="evil',
    "closing brace": "team}",
    "opening brace": "{team",
    "escaped newline": "team\\n",
    "upper case": "TEAM",
    "cyrillic a look-alike": "te\u0430m",
    "64 chars": "w" * 64,
    "10 KB long": "w" * 10240,
    "empty": "",
    "dot dot": "..",
    "slash": "../team",
}
TENANT_PATHS = ["/t/acme/health", "/t/acme/exams", "/health"]


@pytest.mark.parametrize("workspace", BAD_WORKSPACES.values(), ids=BAD_WORKSPACES.keys())
@pytest.mark.parametrize("path", TENANT_PATHS)
def test_a_malformed_workspace_header_is_400_and_changes_nothing(client, unchanged, path,
                                                                 workspace):
    response = client.get(path, headers={"X-Workspace": workspace, "Host": "acme.example"})
    assert_json_error(response, 400, {"invalid_workspace_id"})
    unchanged()


@pytest.mark.parametrize("workspace", BAD_WORKSPACES.values(), ids=BAD_WORKSPACES.keys())
def test_a_malformed_workspace_header_on_an_upload_stores_nothing(client, unchanged,
                                                                  workspace):
    response = client.post("/t/acme/uploads", data={"file": (io.BytesIO(b"x"), "x.txt")},
                           content_type="multipart/form-data",
                           headers={"X-Workspace": workspace})
    assert_json_error(response, 400, {"invalid_workspace_id"})
    unchanged()


# -- label injection never reaches /metrics -----------------------------------------------------
MARKER = "pwn3d"
INJECTIONS = [f'{MARKER}"', f"{MARKER}\n", f"{MARKER}}}", f"{{{MARKER}",
              f'{MARKER}",tenant="x', f"{MARKER}\ntenant_labels_limit 1", f"{MARKER}\\"]


def test_label_injection_attempts_never_reach_the_metrics_text(client, app):
    for payload in INJECTIONS:
        for route in ROUTES:
            send(client, route, quote(payload, safe=""))
        if "\n" not in payload:
            for path in TENANT_PATHS:
                client.get(path, headers={"X-Workspace": payload})
        client.put("/admin/tenants/acme", json={**ACME, "hosts": [payload]}, headers=ADMIN)
        client.put("/admin/tenants/acme", json={**ACME, "limits": {payload: 2}}, headers=ADMIN)
    # Accepted: free-form extra is stored, but it is data, never a label.
    client.put("/admin/tenants/acme", json={**ACME, "extra": {p: p for p in INJECTIONS}},
               headers=ADMIN)
    client.put("/admin/tenants/acme", json=ACME, headers=ADMIN)
    text = client.get("/metrics").get_data(as_text=True)
    assert MARKER not in text
    samples(text)  # still valid exposition text
    assert label_values(text, "tenant") <= {"acme"}
    assert label_values(text, "workspace") <= {"main"}


# -- data_dir and uploads_dir -----------------------------------------------------------------
PATHS = {
    "dot dot": "..",
    "dot dot below": "../escape",
    "dot dot through a tenant dir": "newco/../../escape",
    "dot dot after the absolute root": "{root}/newco/../../escape",
    "absolute outside": "/etc",
    "filesystem root": "/",
    "the data root itself": "{root}",
    "the data root, roundabout": "newco/..",
    "sibling sharing the prefix": "{root}-evil/newco",
    "symlink leaving the root": "escape-link/newco",
    "absolute symlink leaving the root": "{root}/escape-link",
    "NUL byte": "newco\x00/data",
}


@pytest.mark.parametrize("path", PATHS.values(), ids=PATHS.keys())
@pytest.mark.parametrize("field", ["data_dir", "uploads_dir"])
@pytest.mark.parametrize("tenant", ["acme", "newco"])
def test_a_directory_escaping_the_data_root_is_400_and_changes_nothing(
        client, unchanged, root, outside, tenant, field, path):
    response = client.put(f"/admin/tenants/{tenant}",
                          json={field: path.format(root=root)}, headers=ADMIN)
    assert assert_json_error(response, 400) == {"error": "path_outside_data_root",
                                                "field": field}
    unchanged()
    assert list(outside.iterdir()) == []


@pytest.mark.parametrize("field", ["data_dir", "uploads_dir"])
def test_a_symlink_into_another_tenants_directory_is_409_and_changes_nothing(
        client, unchanged, field):
    response = client.put("/admin/tenants/newco", json={field: "acme-link"}, headers=ADMIN)
    assert assert_json_error(response, 409) == {"error": "directory_in_use", "field": field}
    unchanged()


@pytest.mark.parametrize("field", ["data_dir", "uploads_dir"])
@pytest.mark.parametrize("tenant", ["acme", "newco"])
def test_a_directory_that_is_not_valid_unicode_is_400_and_changes_nothing(
        client, unchanged, tenant, field):
    # A lone surrogate is valid JSON ("\ud800") but can never be a file name.
    response = client.put(f"/admin/tenants/{tenant}", data=f'{{"{field}": "x\\ud800"}}',
                          content_type="application/json", headers=ADMIN)
    assert_json_error(response, 400)
    unchanged()


def test_a_very_deep_data_dir_never_answers_500_and_the_answer_matches_the_store(tmp_path):
    # Its own app: 2000 nested directories would slow every snapshot of the module's app.
    deep = "/".join(["d"] * 2000)  # 4000 characters: inside the schema's 4096 limit
    with pytest.MonkeyPatch.context() as patch:
        for name in ENV_TO_CLEAR:
            patch.delenv(name, raising=False)
        app = create_app({"TENANT_DB_PATH": str(tmp_path / "store" / "tenants.sqlite3"),
                          "TENANT_DATA_ROOT": str(tmp_path / "tenants"),
                          "TENANT_ADMIN_KEY": ADMIN_KEYS[0]})
    try:
        client = app.test_client()
        response = client.put("/admin/tenants/deepco", json={"data_dir": deep}, headers=ADMIN)
        stored = client.get("/admin/tenants/deepco", headers=ADMIN)
    finally:
        close_app(app)
    assert response.status_code < 500, response.get_data(as_text=True)
    if response.status_code in (200, 201):
        assert stored.status_code == 200
        assert stored.get_json()["data_dir"] == response.get_json()["data_dir"]
    else:
        assert_json_error(response, 400)
        assert stored.status_code == 404  # refused means not stored


# -- JSON bombs and body size -----------------------------------------------------------------
DEPTH = 100_000
BOMBS = {
    "100000 nested arrays": "[" * DEPTH + "]" * DEPTH,
    "100000 nested objects": '{"a":' * DEPTH + "1" + "}" * DEPTH,
    "2000 nested arrays inside a field": '{"extra": {"a": ' + "[" * 2000 + "]" * 2000 + "}}",
    "100000 nested arrays inside a field":
        '{"extra": {"a": ' + "[" * DEPTH + "]" * DEPTH + "}}",
    "5000-digit integer": '{"limits": {"ocr": ' + "7" * 5000 + "}}",
    "NaN": '{"extra": {"x": NaN}}',
    "Infinity": '{"extra": {"x": Infinity}}',
    "-Infinity": '{"extra": {"x": -Infinity}}',
    "invalid UTF-8": b'{"extra": {"x": "\xff\xfe"}}',
    "truncated": '{"extra": {"x": ',
    "not JSON at all": "<xml/>",
}
JSON_ROUTES = {
    "admin put existing": ("PUT", "/admin/tenants/acme", ADMIN),
    "admin put new": ("PUT", "/admin/tenants/newco", ADMIN),
    "set_ready": ("POST", "/tenant/acme/set_ready", API),
}


@pytest.mark.parametrize("body", BOMBS.values(), ids=BOMBS.keys())
@pytest.mark.parametrize("route", JSON_ROUTES)
def test_a_json_bomb_within_the_size_limit_is_400_not_500_and_changes_nothing(
        client, unchanged, route, body):
    method, path, headers = JSON_ROUTES[route]
    assert len(body) <= MAX_JSON_BYTES
    response = client.open(path, method=method, data=body, content_type="application/json",
                           headers=headers)
    assert_json_error(response, 400, {"malformed_json", "invalid_body"})
    unchanged()


# Found by the long fuzz run (make fuzz): errors on list items and on the whole list at once.
INVALID_BODIES = {
    "bad host and duplicate hosts": {"hosts": ["", "0", "0"]},
    "bad host name and a duplicate": {"hosts": ["bad host!", "x.example", "x.example"]},
    "bad limit value and duplicate hosts": {"limits": {"ocr": "x"}, "hosts": ["a", "a"]},
}


@pytest.mark.parametrize("body", INVALID_BODIES.values(), ids=INVALID_BODIES.keys())
@pytest.mark.parametrize("tenant", ["acme", "newco"])
def test_an_invalid_body_with_several_errors_is_400_naming_them_and_changes_nothing(
        client, unchanged, tenant, body):
    response = client.put(f"/admin/tenants/{tenant}", json=body, headers=ADMIN)
    answer = assert_json_error(response, 400, {"invalid_body"})
    assert set(answer["fields"]) == set(body)
    unchanged()


@pytest.mark.parametrize("route", JSON_ROUTES)
def test_a_body_past_max_json_bytes_is_413_and_changes_nothing(client, unchanged, route):
    method, path, headers = JSON_ROUTES[route]
    body = '{"extra": {"pad": "' + "x" * MAX_JSON_BYTES + '"}}'
    response = client.open(path, method=method, data=body, content_type="application/json",
                           headers=headers)
    assert assert_json_error(response, 413) == {"error": "payload_too_large"}
    unchanged()


# Per route, a body it would accept and act on: what the padded variant smuggles in.
ACCEPTED_BODIES = {
    "admin put existing": b'{"enabled": false}',
    "admin put new": b"{}",
    "set_ready": b'{"ready": true}',
}
PADDING = {
    # A valid document padded past the limit: what is parsed must be all that was sent.
    "valid JSON padded past the limit": lambda accepted: (
        accepted + b" " * MAX_JSON_BYTES + b"trailing garbage"),
    "one document past the limit": lambda accepted: (
        b'{"extra": {"pad": "' + b"x" * MAX_JSON_BYTES + b'"}}'),
}


@pytest.mark.parametrize("padding", PADDING.values(), ids=PADDING.keys())
@pytest.mark.parametrize("route", JSON_ROUTES)
def test_a_chunked_body_past_max_json_bytes_is_413_and_changes_nothing(client, unchanged,
                                                                       route, padding):
    # No Content-Length: the server terminates the stream (gunicorn does so for chunked).
    method, path, headers = JSON_ROUTES[route]
    response = client.open(path, method=method,
                           input_stream=io.BytesIO(padding(ACCEPTED_BODIES[route])),
                           headers={**headers, "Content-Type": "application/json",
                                    "Transfer-Encoding": "chunked"},
                           environ_overrides={"wsgi.input_terminated": True})
    assert assert_json_error(response, 413) == {"error": "payload_too_large"}
    unchanged()


CONTENT_TYPES = {
    "text/plain": ("text/plain", "{}"),
    "form": ("application/x-www-form-urlencoded", "enabled=false"),
    "multipart": ("multipart/form-data; boundary=x", "--x--"),
    "xml": ("application/xml", "<tenant/>"),
    "none": (None, "{}"),
}


@pytest.mark.parametrize("content_type, data", CONTENT_TYPES.values(), ids=CONTENT_TYPES.keys())
@pytest.mark.parametrize("tenant", ["acme", "newco"])
def test_an_admin_put_that_is_not_json_is_415_and_changes_nothing(client, unchanged, tenant,
                                                                  content_type, data):
    kwargs = {"content_type": content_type} if content_type else {}
    response = client.put(f"/admin/tenants/{tenant}", data=data, headers=ADMIN, **kwargs)
    assert assert_json_error(response, 415) == {"error": "unsupported_media_type"}
    unchanged()


@pytest.mark.parametrize("content_type, data", [
    ("text/plain", '{"ready": true}'), ("application/x-www-form-urlencoded", "ready=true"),
    ("multipart/form-data; boundary=x", "--x--"), (None, '{"ready": true}')],
    ids=["text/plain", "form", "multipart", "none"])
def test_a_set_ready_that_is_not_json_is_refused_and_changes_nothing(client, unchanged,
                                                                     content_type, data):
    kwargs = {"content_type": content_type} if content_type else {}
    response = client.post("/tenant/acme/set_ready", data=data, headers=API, **kwargs)
    assert_json_error(response, (400, 415), {"invalid_body", "unsupported_media_type"})
    unchanged()


def test_an_upload_sent_as_json_is_400_and_stores_nothing(client, unchanged):
    response = client.post("/t/acme/uploads", json={"file": "x"})
    assert assert_json_error(response, 400) == {"error": "missing_file", "field": "file"}
    unchanged()


# -- upload file names --------------------------------------------------------------------------
FILENAMES = {
    "dot dot slash": "../../escape.txt",
    "absolute": "/etc/passwd",
    "backslashes": "..\\..\\escape.txt",
    "NUL in the middle": "evil\x00.txt",
    "NUL then a path": "x\x00/../../escape.txt",
    "only dots": "..",
    "hidden": ".bashrc",
    "nested": "sub/dir/file.txt",
    "encoded dot dot slash": "%2e%2e%2fescape.txt",
    "1000 characters": "n" * 1000,
}


@pytest.mark.parametrize("filename", FILENAMES.values(), ids=FILENAMES.keys())
def test_an_upload_filename_with_separators_or_nul_is_stored_only_inside_uploads_dir(
        client, sandbox, root, filename):
    uploads_dir = root / "acme" / "uploads"
    before = {p for p in sandbox.rglob("*")}
    status = upload(client, "/t/acme", b"payload", filename)
    assert status["state"] == "done"
    created = {p for p in sandbox.rglob("*")} - before
    store_dir = sandbox / "store"
    assert {p for p in created if not p.is_relative_to(store_dir)} == \
        {uploads_dir / f"{status['id']}.bin"}
    name = status["filename"]
    assert not set(name) & {"/", "\\", "\x00"} and not name.startswith(".")
    assert len(name) <= 200


# -- keys ---------------------------------------------------------------------------------------
QUERY_KEYS = {
    "admin list, header name": ("GET", "/admin/tenants?X-Admin-Key={a}", None),
    "admin list, key": ("GET", "/admin/tenants?key={a}", None),
    "admin list, api_key": ("GET", "/admin/tenants?api_key={a}", None),
    "admin put, header name": ("PUT", "/admin/tenants/newco?X-Admin-Key={a}", {}),
    "admin purge, header name": ("DELETE", "/admin/tenants/acme?purge=1&X-Admin-Key={a}", None),
    "set_ready, header name": ("POST", "/tenant/acme/set_ready?X-API-Key={p}", {"ready": True}),
    "set_ready, key": ("POST", "/tenant/acme/set_ready?key={p}", {"ready": True}),
}


@pytest.mark.parametrize("method, path, body", QUERY_KEYS.values(), ids=QUERY_KEYS.keys())
def test_a_key_in_the_query_string_is_401_and_changes_nothing(client, unchanged, method, path,
                                                              body):
    url = path.format(a=ADMIN_KEYS[0], p=API_KEYS[0])
    kwargs = {"json": body} if body is not None else {}
    response = client.open(url, method=method, **kwargs)
    assert assert_json_error(response, 401) == {"error": "unauthorized"}
    unchanged()


ELSEWHERE = {
    "admin key as bearer token": ("PUT", "/admin/tenants/newco",
                                  {"Authorization": f"Bearer {ADMIN_KEYS[0]}"}),
    "admin key as cookie": ("PUT", "/admin/tenants/newco",
                            {"Cookie": f"X-Admin-Key={ADMIN_KEYS[0]}"}),
    "admin key in the api key header": ("PUT", "/admin/tenants/newco",
                                        {"X-API-Key": ADMIN_KEYS[0]}),
    "api key in the admin key header": ("POST", "/tenant/acme/set_ready",
                                        {"X-Admin-Key": API_KEYS[0]}),
    "admin key with a suffix": ("PUT", "/admin/tenants/newco",
                                {"X-Admin-Key": ADMIN_KEYS[0] + "x"}),
    "admin key prefix": ("PUT", "/admin/tenants/newco", {"X-Admin-Key": ADMIN_KEYS[0][:-1]}),
    "both admin keys joined": ("PUT", "/admin/tenants/newco",
                               {"X-Admin-Key": ",".join(ADMIN_KEYS)}),
    "api key with a space inside": ("POST", "/tenant/acme/set_ready",
                                    {"X-API-Key": f"{API_KEYS[0][:6]} {API_KEYS[0][6:]}"}),
}


@pytest.mark.parametrize("method, path, headers", ELSEWHERE.values(), ids=ELSEWHERE.keys())
def test_a_key_anywhere_but_its_own_header_is_401_and_changes_nothing(client, unchanged, method,
                                                                      path, headers):
    response = client.open(path, method=method, json={"ready": True} if "set_ready" in path
                           else {}, headers=headers)
    assert assert_json_error(response, 401) == {"error": "unauthorized"}
    unchanged()


@pytest.mark.parametrize("around", [" {} ", "\t{}\t", " \t{}"], ids=["spaces", "tabs", "mixed"])
def test_whitespace_around_a_key_is_not_part_of_it_as_on_the_wire(client, around):
    # RFC 9110 5.5: gunicorn strips it (tests/security/test_hostile_wire.py); so does the app.
    response = client.post("/tenant/acme/set_ready", json={"ready": False},
                           headers={"X-API-Key": around.format(API_KEYS[0])})
    assert response.status_code == 200, response.get_data(as_text=True)


def test_keys_never_appear_in_logs_or_responses(client, caplog):
    caplog.set_level(logging.DEBUG)
    wrong = "wrong-" + ADMIN_KEYS[1]
    responses = [
        client.get("/admin/tenants", headers={"X-Admin-Key": ADMIN_KEYS[1]}),
        client.get("/admin/tenants", headers={"X-Admin-Key": wrong}),
        client.get(f"/admin/tenants?X-Admin-Key={ADMIN_KEYS[0]}"),
        client.put("/admin/tenants/acme", json=ACME, headers=ADMIN),
        client.put("/admin/tenants/acme", data="{" + ADMIN_KEYS[0], headers=ADMIN,
                   content_type="application/json"),
        client.put("/admin/tenants/Bad", json={}, headers=ADMIN),
        client.put("/admin/tenants/acme", json={"data_dir": "/etc"}, headers=ADMIN),
        client.post("/admin/tenants/acme/recheck", headers=ADMIN),
        client.post("/tenant/acme/set_ready", json={"ready": False},
                    headers={"X-API-Key": API_KEYS[1]}),
        client.post("/tenant/acme/set_ready", json={"ready": "yes"}, headers=API),
        client.post("/tenant/acme/set_ready", json={"ready": False},
                    headers={"X-API-Key": "x" + API_KEYS[0]}),
        client.get("/t/acme/health", headers=KEYS),
        client.get("/metrics", headers=KEYS),
    ]
    logged = caplog.text + " ".join(repr(record.args) for record in caplog.records)
    for key in ALL_KEYS:
        assert key not in logged
        for response in responses:
            assert key not in response.get_data(as_text=True)
            assert key not in str(response.headers)


# -- tenant routes never reach global endpoints ----------------------------------------------------
@pytest.mark.parametrize("path", ["/t/acme/readyz", "/t/acme/readyz/store", "/t/acme/metrics",
                                  "/t/acme/healthz", "/t/acme/admin/tenants",
                                  "/t/acme/tenant/acme/set_ready", "/t/acme/openapi.json"])
def test_a_tenant_prefix_never_reaches_a_global_endpoint(client, unchanged, path):
    response = client.open(path, method="GET", headers=KEYS)
    assert_json_error(response, (404, 405), {"not_found", "method_not_allowed"})
    unchanged()


def test_a_tenant_host_header_does_not_make_readyz_or_metrics_tenant_scoped(client):
    plain = client.get("/readyz?verbose=1").get_json()
    by_host = client.get("/readyz?verbose=1", headers={"Host": "acme.example"}).get_json()
    assert [c["name"] for c in by_host["checks"]] == [c["name"] for c in plain["checks"]]
    assert by_host["status"] == plain["status"] == "ready"


# -- the same under a real gunicorn ------------------------------------------------------------
GUNICORN_ENV = {"TENANT_ADMIN_KEY": ",".join(ADMIN_KEYS), "TENANT_API_KEY": ",".join(API_KEYS),
                "MAX_JSON_BYTES": "4096"}


@pytest.mark.gunicorn
def test_keys_never_reach_the_gunicorn_log(tmp_path):
    with running_server(tmp_path, workers=1, env=GUNICORN_ENV) as server:
        assert server.put("/admin/tenants/acme", json={}, headers=ADMIN).status_code == 201
        assert server.get(f"/admin/tenants?X-Admin-Key={ADMIN_KEYS[1]}").status_code == 401
        assert server.get("/admin/tenants",
                          headers={"X-Admin-Key": "bad-" + ADMIN_KEYS[1]}).status_code == 401
        assert server.post("/tenant/acme/set_ready", json={"ready": True},
                           headers=API).status_code == 200
        assert server.post(f"/tenant/acme/set_ready?key={API_KEYS[1]}",
                           json={"ready": True}).status_code == 401
        assert server.put("/admin/tenants/acme", data="{" + ADMIN_KEYS[0],
                          headers={**ADMIN, "Content-Type": "application/json"}
                          ).status_code == 400
    log = server.log()
    assert '"PUT /admin/tenants/acme HTTP/1.1" 201' in log  # the access log is on
    for key in ALL_KEYS:
        assert key not in log


@pytest.mark.gunicorn
def test_a_chunked_body_padded_past_max_json_bytes_is_413_under_gunicorn(tmp_path):
    def padded():
        yield b'{"enabled": false}'
        yield b" " * 8192 + b"trailing garbage"

    with running_server(tmp_path, workers=1, env=GUNICORN_ENV) as server:
        assert server.put("/admin/tenants/acme", json={}, headers=ADMIN).status_code == 201
        chunked = requests.put(server.url("/admin/tenants/acme"), data=padded(),
                               headers={**ADMIN, "Content-Type": "application/json"},
                               timeout=10)
        listed = server.get("/admin/tenants/acme", headers=ADMIN).json()
    assert chunked.status_code == 413, chunked.text
    assert chunked.json() == {"error": "payload_too_large"}
    assert listed["enabled"] is True
