"""Hostile requests on the wire, against a real gunicorn (2 workers), over raw sockets.

A client library would fix each of these up (frame the body, fold nothing, add the colon);
here they are sent byte for byte. Each is answered with a JSON 4xx, never a 500; the
request changes nothing (tenants, files, the app's 5xx count); no key is echoed in the
answer or written to the log.
"""
from __future__ import annotations

import pytest
import requests

from tests.security.serving_state import ADMIN, ADMIN_KEY, API_KEY
from tests.support.raw_http import chunked, exchange, request

pytestmark = pytest.mark.gunicorn

KEY_HEADERS = [f"X-Admin-Key: {ADMIN_KEY}", f"X-API-Key: {API_KEY}"]
NEXT_REQUEST = request("GET", "/healthz")


def assert_json_error(answer, status: int, error: str) -> None:
    assert answer.status == status, answer.text[:500]
    assert answer.headers.get("content-type") == "application/json", answer.text[:500]
    assert answer.json() == {"error": error}
    for key in (ADMIN_KEY, API_KEY):
        assert key not in answer.text


# -- malformed bodies -----------------------------------------------------------------------
ROUTES = {
    "healthz": ("GET", "/healthz", []),
    "admin put": ("PUT", "/admin/tenants/acme", [f"X-Admin-Key: {ADMIN_KEY}",
                                                 "Content-Type: application/json"]),
    "admin put new tenant": ("PUT", "/admin/tenants/newco", [f"X-Admin-Key: {ADMIN_KEY}",
                                                             "Content-Type: application/json"]),
    "set_ready": ("POST", "/tenant/acme/set_ready", [f"X-API-Key: {API_KEY}",
                                                     "Content-Type: application/json"]),
    "upload": ("POST", "/t/acme/uploads", ["Content-Type: multipart/form-data; boundary=b"]),
}
MULTIPART = (b'--b\r\nContent-Disposition: form-data; name="file"; filename="x.txt"\r\n\r\n'
             b"new bytes\r\n--b--\r\n")
BODIES = {"admin put": b'{"enabled": false}', "admin put new tenant": b"{}",
          "set_ready": b'{"ready": true}', "upload": MULTIPART, "healthz": b"{}"}


def hex_size(body: bytes) -> bytes:
    return f"{len(body):x}".encode()


BAD_CHUNKS = {
    "chunk size not hex": lambda body: b"ZZ\r\n" + body + b"\r\n0\r\n\r\n",
    "negative chunk size": lambda body: b"-5\r\n" + body + b"\r\n0\r\n\r\n",
    "missing chunk terminator": lambda body: hex_size(body) + b"\r\n" + body + b"XX0\r\n\r\n",
    "bad chunk extension": lambda body: hex_size(body) + b';a="open\r\n' + body
                                        + b"\r\n0\r\n\r\n",
    "valid chunk, then garbage": lambda body: hex_size(body) + b"\r\n" + body + b"\r\nQ\r\n",
}


@pytest.mark.parametrize("encoding", BAD_CHUNKS.values(), ids=BAD_CHUNKS.keys())
@pytest.mark.parametrize("route", ROUTES)
def test_a_malformed_chunked_body_is_400_and_closes_the_connection(server, unchanged, route,
                                                                   encoding):
    method, path, headers = ROUTES[route]
    answer = exchange(server.port, chunked(method, path, encoding(BODIES[route]), headers),
                      then=NEXT_REQUEST)
    assert_json_error(answer, 400, "malformed_body")
    assert answer.closed  # where the next request would start is unknown
    unchanged()


TRUNCATED = {
    "inside a chunk": lambda body: hex_size(body) + b"\r\n" + body[: len(body) // 2],
    "after a chunk": lambda body: hex_size(body) + b"\r\n" + body + b"\r\n",
    "inside the size line": lambda body: hex_size(body),
    "before the last chunk's end": lambda body: hex_size(body) + b"\r\n" + body + b"\r\n0\r\n",
    # A valid size, far past any limit: the body ends long before the chunk does.
    "a chunk announced past 2**64 bytes": lambda body: b"1" + b"0" * 20 + b"\r\n" + body,
}


@pytest.mark.parametrize("encoding", TRUNCATED.values(), ids=TRUNCATED.keys())
@pytest.mark.parametrize("route", ROUTES)
def test_a_chunked_body_cut_short_by_the_client_is_400(server, unchanged, route, encoding):
    method, path, headers = ROUTES[route]
    answer = exchange(server.port, chunked(method, path, encoding(BODIES[route]), headers),
                      end_input=True)
    assert_json_error(answer, 400, "malformed_body")
    unchanged()


@pytest.mark.parametrize("route", [r for r in ROUTES if r != "healthz"])
def test_a_sized_body_cut_short_by_the_client_is_400(server, unchanged, route):
    method, path, headers = ROUTES[route]
    body = BODIES[route]
    data = request(method, path, [*headers, f"Content-Length: {len(body) + 10}"], body)
    answer = exchange(server.port, data, end_input=True)
    assert_json_error(answer, 400, "malformed_body")
    unchanged()


# -- gunicorn's own refusals ------------------------------------------------------------------
PARSE_ERRORS = {
    "header without a colon, holding a key": (
        request("GET", "/admin/tenants", [f"X-Admin-Key {ADMIN_KEY}"]), 400, "invalid_header"),
    "api key header without a colon": (
        request("POST", "/tenant/acme/set_ready", [f"X-API-Key {API_KEY}"]), 400,
        "invalid_header"),
    "duplicate Host": (request("GET", "/healthz", ["Host: other", *KEY_HEADERS]), 400,
                       "invalid_header"),
    "obs-fold": (request("GET", "/admin/tenants", ["X-Admin-Key:", f" {ADMIN_KEY}"]), 400,
                 "invalid_header"),
    "NUL in a header value": (request("GET", "/healthz", [f"X-Admin-Key: \x00{ADMIN_KEY}"]),
                              400, "invalid_header"),
    "space before the colon": (request("GET", "/admin/tenants", [f"X-Admin-Key : {ADMIN_KEY}"]),
                               400, "invalid_header"),
    "bad HTTP version": (request("GET", "/healthz", KEY_HEADERS, version="HTTP/9.9"), 400,
                         "invalid_http_version"),
    "not HTTP at all": (request("GET", "/healthz", KEY_HEADERS, version="SMTP/1.0"), 400,
                        "invalid_http_version"),
    "lower-case method": (request("get", "/healthz", KEY_HEADERS), 400, "invalid_method"),
    "method with a bad character": (request("G@T", "/healthz", KEY_HEADERS), 400,
                                    "invalid_method"),
    "request line past 4094 bytes": (request("GET", "/" + "a" * 5000, KEY_HEADERS), 414,
                                     "uri_too_long"),
    "header line past 8190 bytes": (
        request("GET", "/healthz", [*KEY_HEADERS, "X-Pad: " + "p" * 9000]), 431,
        "request_header_fields_too_large"),
    "unknown transfer coding": (
        request("POST", "/tenant/acme/set_ready", ["Transfer-Encoding: rot13", *KEY_HEADERS]),
        501, "unsupported_transfer_coding"),
    "chunked twice": (
        request("PUT", "/admin/tenants/acme", ["Transfer-Encoding: chunked, chunked",
                                               *KEY_HEADERS]), 400, "invalid_header"),
    "Content-Length and chunked": (
        request("PUT", "/admin/tenants/acme", ["Content-Length: 2", "Transfer-Encoding: chunked",
                                               *KEY_HEADERS]), 400, "invalid_header"),
}


@pytest.mark.parametrize("data, status, error", PARSE_ERRORS.values(), ids=PARSE_ERRORS.keys())
def test_a_request_gunicorn_cannot_parse_gets_a_json_error_without_the_key(
        server, unchanged, data, status, error):
    answer = exchange(server.port, data)
    assert_json_error(answer, status, error)
    assert answer.headers.get("connection") == "close"
    unchanged()
    assert ADMIN_KEY not in server.log() and API_KEY not in server.log()


# -- whitespace around a header value is not part of it (RFC 9110 5.5) --------------------------
AROUND = {"spaces": "   {}   ", "tabs": "\t{}\t", "mixed": " \t{} \t"}


@pytest.mark.parametrize("around", AROUND.values(), ids=AROUND.keys())
def test_whitespace_around_a_key_on_the_wire_is_not_part_of_it(server, around):
    answer = exchange(server.port, request("GET", "/admin/tenants",
                                           ["X-Admin-Key:" + around.format(ADMIN_KEY)]))
    assert answer.status == 200, answer.text[:300]
    assert [t["tenant_id"] for t in answer.json()["tenants"]] == ["acme"]


INSIDE = {"space inside": ADMIN_KEY[:5] + " " + ADMIN_KEY[5:],
          "tab inside": ADMIN_KEY[:5] + "\t" + ADMIN_KEY[5:],
          "two keys": f"{ADMIN_KEY} {ADMIN_KEY}"}


@pytest.mark.parametrize("value", INSIDE.values(), ids=INSIDE.keys())
def test_whitespace_inside_a_key_on_the_wire_is_401(server, unchanged, value):
    answer = exchange(server.port, request("PUT", "/admin/tenants/acme",
                                           [f"X-Admin-Key: {value}", "Content-Length: 2",
                                            "Content-Type: application/json"], b"{}"))
    assert_json_error(answer, 401, "unauthorized")
    unchanged()


def test_the_server_still_answers_everyone_after_the_hostile_requests(server):
    assert server.get("/healthz").status_code == 200
    assert server.get("/t/acme/health").json()["tenant"] == "acme"
    assert requests.get(server.url("/admin/tenants"), headers=ADMIN, timeout=10).ok


@pytest.mark.parametrize("path, headers, status", [
    ("/t/nobody/uploads", [], 404),
    ("/t/acme/uploads", ["X-Workspace: NOT VALID"], 400),
], ids=["unknown-tenant", "bad-workspace"])
def test_a_refused_request_has_its_body_read_and_its_connection_kept(server, path, headers,
                                                                     status):
    # Refused before the body was read; gunicorn itself reads at most 64 KiB of it and then
    # closes, which a proxy still sending it answers with 502. The app reads the rest.
    body = b"x" * 1_000_000
    head = ["Content-Type: application/octet-stream", f"Content-Length: {len(body)}", *headers]
    answer = exchange(server.port, request("POST", path, head, body),
                      then=request("GET", "/healthz"))
    assert answer.status == status
    assert not answer.closed  # the same connection answered the next request
