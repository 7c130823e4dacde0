"""The answers clients get through config/nginx.conf: nginx's own refusals are JSON with
the app's codes, the app's answers are what gunicorn gives, its body limits hold, and a
client cannot set the headers gunicorn trusts from the proxy."""
from __future__ import annotations

import re

import pytest
import requests

from tests.deployment.nginx import SHIPPED, require_nginx, start_nginx
from tests.deployment.slow_clients import SlowClients
from tests.support.polling import poll
from tests.support.raw_http import HEALTHZ, exchange

MAX_UPLOAD_BYTES = 10 * 1024 * 1024  # the app's default


# -- nginx alone (gunicorn down) -------------------------------------------------------------

@pytest.mark.parametrize("request_bytes, status, code", [
    (b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 502, "bad_gateway"),
    (b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 404, "not_found"),
    (b"GET /%6detrics?x=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 404, "not_found"),
    (b"GET //metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 404, "not_found"),
    (b"GET /_errors/502 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 404, "not_found"),
    (b"POST /t/acme/uploads HTTP/1.1\r\nHost: x\r\nContent-Length: 10485761\r\n\r\n",
     413, "payload_too_large"),
    (b"POST /uploads HTTP/1.1\r\nHost: x\r\nContent-Length: 10485761\r\n\r\n",
     413, "payload_too_large"),
    (b"PUT /admin/tenants/acme HTTP/1.1\r\nHost: x\r\nContent-Length: 1048577\r\n\r\n",
     413, "payload_too_large"),
    (b"GET /" + b"a" * 4090 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414, "uri_too_long"),
    (b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 5000 + b"\r\n\r\n",
     431, "request_header_fields_too_large"),
    (b"NOT HTTP AT ALL\r\n\r\n", 400, "bad_request"),
    (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
     400, "bad_request"),
], ids=["gunicorn-down", "metrics", "metrics-encoded", "metrics-double-slash",
        "error-page-itself", "upload-over-10m", "host-upload-over-10m", "json-over-1m",
        "request-line-over-4094", "header-over-4k", "garbage", "smuggling"])
def test_nginx_answers_its_own_refusals_as_json_with_the_apps_codes(lone_nginx, request_bytes,
                                                                    status, code):
    answer = exchange(lone_nginx.port, request_bytes)
    assert answer.whole, answer.raw
    assert (answer.status, answer.json()) == (status, {"error": code})
    assert answer.headers["content-type"] == "application/json"
    assert answer.headers["server"] == "nginx"  # server_tokens off: no version


def test_with_per_address_limits_on_an_address_holding_its_limit_of_requests_gets_429(
        tmp_path, refused_upstream):
    require_nginx()
    limit = int(re.search(r"#limit_conn tenantgate_conn (\d+);", SHIPPED.read_text())[1])
    nginx = start_nginx(tmp_path, refused_upstream, per_address_limits=True)
    try:
        # Slow uploads: each is a request in progress, as limit_conn counts them.
        with SlowClients(nginx.port, headers=0, bodies=limit, upload_path="/t/acme/uploads"):
            writing = poll(lambda: nginx.connections()["writing"], lambda n: n >= limit)
            assert writing >= limit
            answer = exchange(nginx.port, HEALTHZ + b"\r\n")
            assert answer.whole, answer.raw
            assert (answer.status, answer.json()) == (429, {"error": "too_many_requests"})
            assert answer.headers["retry-after"] == "1"
        # Once the address holds fewer, it passes the limit (and finds gunicorn down).
        answer = poll(lambda: exchange(nginx.port, HEALTHZ + b"\r\n"),
                      lambda a: a.status != 429)
        assert answer.whole, answer.raw
        assert (answer.status, answer.json()) == (502, {"error": "bad_gateway"})
    finally:
        nginx.stop()


# -- nginx in front of gunicorn -------------------------------------------------------------

@pytest.mark.gunicorn
@pytest.mark.parametrize("method, path, headers, status", [
    ("GET", "/t/nobody/health", {}, 404),
    ("GET", "/t/Not_A_Tenant/health", {}, 400),
    ("GET", "/t/closed/health", {}, 503),
    ("PUT", "/admin/tenants/acme", {}, 401),
    ("GET", "/health", {"Host": "acme.localhost"}, 200),
    ("GET", "/health", {"Host": "ACME.localhost:8443"}, 200),
], ids=["unknown-tenant", "invalid-id", "disabled-tenant", "no-key", "tenant-by-host",
        "tenant-by-host-with-port"])
def test_clients_get_the_same_answers_through_nginx_as_from_gunicorn(deployment, method, path,
                                                                     headers, status):
    def answer(url):
        response = requests.request(method, url, headers=headers, json={}, timeout=10)
        return (response.status_code, response.json(), response.headers.get("Retry-After"),
                response.headers["Content-Type"])

    direct = answer(deployment.server.url(path))
    assert direct[0] == status
    assert answer(deployment.nginx.url(path)) == direct


def multipart_upload(total: int) -> tuple[bytes, int]:
    """A multipart body of exactly ``total`` bytes with one file: (body, the file's size)."""
    head = (b"--b0undary\r\nContent-Disposition: form-data; name=\"file\"; "
            b"filename=\"big.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n")
    tail = b"\r\n--b0undary--\r\n"
    size = total - len(head) - len(tail)
    return head + b"u" * size + tail, size


@pytest.mark.gunicorn
@pytest.mark.parametrize("total, status", [
    (MAX_UPLOAD_BYTES, 202),
    (MAX_UPLOAD_BYTES + 1, 413),
], ids=["exactly-the-apps-limit", "one-byte-over-its-limit"])
def test_uploads_pass_nginx_up_to_the_apps_limit_and_no_further(deployment, total, status):
    body, size = multipart_upload(total)
    response = requests.post(deployment.nginx.url("/t/acme/uploads"), data=body, timeout=30,
                             headers={"Content-Type": "multipart/form-data; boundary=b0undary"})
    assert response.status_code == status, response.text
    if status == 202:
        assert response.json()["size"] == size
    else:
        assert response.json() == {"error": "payload_too_large"}


@pytest.mark.gunicorn
@pytest.mark.parametrize("header", [
    b"X-Forwarded-Ssl: on", b"X-Forwarded-Protocol: ssl", b"Script_Name: /elsewhere",
])
def test_a_client_cannot_set_the_headers_gunicorn_trusts_from_the_proxy(deployment, header):
    # From 127.0.0.1, beside nginx's own X-Forwarded-Proto, gunicorn acts on the header.
    direct = exchange(deployment.server.port,
                      HEALTHZ + b"X-Forwarded-Proto: http\r\n" + header + b"\r\n\r\n")
    assert direct.whole, direct.raw
    assert direct.status != 200
    through = exchange(deployment.nginx.port, HEALTHZ + header + b"\r\n\r\n")
    assert through.whole, through.raw
    assert (through.status, through.json()) == (200, {"status": "ok"})


@pytest.mark.gunicorn
@pytest.mark.parametrize("path, headers, status, code", [
    ("/t/nobody/uploads", {}, 404, "unknown_tenant"),
    ("/t/acme/uploads", {"X-Workspace": "Not A Workspace"}, 400, "invalid_workspace_id"),
    ("/t/closed/uploads", {}, 503, "tenant_disabled"),
], ids=["unknown-tenant", "bad-workspace", "disabled-tenant"])
def test_a_large_refused_upload_gets_the_apps_answer_through_nginx_never_502(
        deployment, path, headers, status, code):
    # The app refuses before reading the body; it reads the rest before answering, or
    # gunicorn would close while nginx still sends it (nginx: 502 Bad Gateway).
    body, _ = multipart_upload(1_000_000)
    headers = {"Content-Type": "multipart/form-data; boundary=b0undary", **headers}
    answers = [requests.post(deployment.nginx.url(path), data=body, headers=headers,
                             timeout=30) for _ in range(10)]
    assert [(a.status_code, a.json()["error"]) for a in answers] == [(status, code)] * 10
