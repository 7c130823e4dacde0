"""The management listener under a real gunicorn: probes answer while traffic threads are held."""
from __future__ import annotations

import os
import socket
import subprocess
import time

import pytest
import requests

from tests.support.server import GUNICORN, ROOT, free_port, running_server

pytestmark = pytest.mark.gunicorn

PROBE_BUDGET = 1.0  # contract sec. 17: answered within 1 s with every traffic thread held
MAX_SLOW_CLIENTS = 64


def hold_every_traffic_thread(server) -> list[socket.socket]:
    """Slow clients (a request line, then nothing) until the traffic port stops answering."""
    held: list[socket.socket] = []
    while len(held) < MAX_SLOW_CLIENTS:
        for _ in range(4):
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # the rest never comes
            held.append(sock)
        try:
            requests.get(server.url("/healthz"), timeout=2)
        except requests.Timeout:
            return held
    raise AssertionError(f"{len(held)} slow clients did not hold every traffic thread")


def test_probes_answer_on_the_management_port_while_slow_clients_hold_every_thread(tmp_path):
    with running_server(tmp_path, workers=2, threads=2) as server:
        slow = hold_every_traffic_thread(server)
        try:
            for path in ("/healthz", "/readyz", "/readyz/store", "/metrics") * 3:
                started = time.monotonic()
                response = requests.get(server.management_url(path), timeout=PROBE_BUDGET)
                assert response.status_code == 200, path
                assert time.monotonic() - started < PROBE_BUDGET
            assert requests.get(server.management_url("/readyz"), timeout=PROBE_BUDGET) \
                .json() == {"status": "ready"}
        finally:
            for sock in slow:
                sock.close()
        assert requests.get(server.url("/healthz"), timeout=10).status_code == 200


def test_metrics_on_the_management_port_are_every_workers(tmp_path):
    with running_server(tmp_path, workers=2) as server:
        for _ in range(10):
            requests.get(server.url("/healthz"), headers={"Connection": "close"}, timeout=10)
        text = requests.get(server.management_url("/metrics"), timeout=10).text

    counted = [line for line in text.splitlines() if line.startswith(
        'flask_http_request_total{method="GET",status="200"}')]
    assert counted and float(counted[0].split()[1]) >= 10


def test_a_second_server_on_the_same_management_address_does_not_start(tmp_path):
    (tmp_path / "first").mkdir()
    with running_server(tmp_path / "first", workers=1) as first:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TENANT")}
        env.update({"BIND": f"127.0.0.1:{free_port()}",
                    "MANAGEMENT_BIND": f"127.0.0.1:{first.management_port}",
                    "TENANT_DB_PATH": str(tmp_path / "second" / "tenants.sqlite3"),
                    "TENANT_DATA_ROOT": str(tmp_path / "second" / "tenants"),
                    "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "second" / "metrics")})
        second = subprocess.run(
            [str(GUNICORN), "-c", str(ROOT / "config" / "gunicorn.conf.py"), "wsgi:app"],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
        assert requests.get(first.management_url("/healthz"), timeout=10).status_code == 200

    assert second.returncode != 0
    lines = [line for line in second.stderr.splitlines() if "MANAGEMENT_BIND" in line]
    assert lines == [f"tenantgate: bad setting MANAGEMENT_BIND: cannot listen on "
                     f"127.0.0.1:{first.management_port}: Address already in use"]
    assert "Traceback" not in second.stderr


def test_an_empty_management_bind_turns_the_listener_off(tmp_path):
    with running_server(tmp_path, workers=1, env={"MANAGEMENT_BIND": ""}) as server:
        assert server.management_port is None
        assert server.get("/readyz").status_code == 200
        assert "management listener" not in server.log()


def test_the_management_address_is_logged_at_start(tmp_path):
    with running_server(tmp_path, workers=2) as server:
        assert f"management listener on 127.0.0.1:{server.management_port}" in server.log()
