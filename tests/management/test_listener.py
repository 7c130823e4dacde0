"""The management listener in one process: the same answers as the app, on threads of its own."""
from __future__ import annotations

import socket

import pytest
import requests

from app.management import ManagementServer, bind_management_socket
from app.settings import SettingsError, load_server_settings

TIMEOUT = 10


@pytest.fixture
def management(app):
    sock = bind_management_socket("127.0.0.1:0")
    server = ManagementServer(sock, app, threads=2)
    server.start()
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    server.stop()
    sock.close()


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/readyz/store", "/readyz?verbose=1",
                                  "/metrics"])
def test_management_paths_answer_as_the_app_does(app, management, path):
    direct = app.test_client().get(path)
    served = requests.get(management + path, timeout=TIMEOUT)

    assert served.status_code == direct.status_code == 200
    assert served.headers["Content-Type"] == direct.headers["Content-Type"]
    if path != "/metrics":
        assert served.json().keys() == direct.get_json().keys()
        assert served.json()["status"] == direct.get_json()["status"]


def test_an_unknown_check_is_the_apps_404(management):
    response = requests.get(management + "/readyz/nope", timeout=TIMEOUT)

    assert response.status_code == 404
    assert response.json()["error"] == "unknown_check"


@pytest.mark.parametrize("path", ["/t/acme/health", "/admin/tenants", "/openapi.json",
                                  "/tenant/acme/readyz", "/readyz/store/extra", "/"])
def test_tenant_and_admin_routes_are_not_served_there(management, path):
    response = requests.get(management + path, timeout=TIMEOUT, headers={"X-Admin-Key": "x"})

    assert response.status_code == 404
    assert response.json() == {"error": "not_found"}


def test_only_reads_are_served(management):
    response = requests.post(management + "/readyz", timeout=TIMEOUT)

    assert response.status_code == 405
    assert response.json() == {"error": "method_not_allowed"}


def test_a_client_that_stops_sending_is_dropped_and_others_are_served(management):
    port = int(management.rpartition(":")[2])
    stalled = [socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
               for _ in range(2)]
    try:
        for sock in stalled:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # and never the end
        # Both threads are held by the stalled clients until their read timeout drops them.
        response = requests.get(management + "/healthz", timeout=TIMEOUT)
        assert response.status_code == 200
        for sock in stalled:
            assert sock.recv(1) == b""  # closed by the server, with no answer
    finally:
        for sock in stalled:
            sock.close()


def test_a_taken_address_is_refused_when_binding():
    first = bind_management_socket("127.0.0.1:0")
    try:
        with pytest.raises(OSError):
            bind_management_socket(f"127.0.0.1:{first.getsockname()[1]}")
    finally:
        first.close()


@pytest.mark.parametrize("raw, expected", [
    ("127.0.0.1:9190", "127.0.0.1:9190"), ("[::1]:9180", "[::1]:9180"), ("", None)])
def test_management_bind_setting(raw, expected):
    assert load_server_settings({"MANAGEMENT_BIND": raw}).management_bind == expected
    assert load_server_settings({}).management_bind == "127.0.0.1:9180"


@pytest.mark.parametrize("raw", ["9180", "localhost", "host:0", "host:99999", ":80"])
def test_a_bad_management_bind_names_the_setting(raw):
    with pytest.raises(SettingsError, match="MANAGEMENT_BIND"):
        load_server_settings({"MANAGEMENT_BIND": raw})
