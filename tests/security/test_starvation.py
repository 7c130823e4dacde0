"""Attacks on the promise "no tenant may affect another tenant or the system" (contract
sec. 17), each against a real gunicorn with 2 workers × 8 threads as the README starts it.

Each test runs the attack as it was reported, then shows the promise holds while it
runs: probes on the management listener answer within 1 s, /readyz stays ready, another
tenant is served, and /metrics does not grow. (Hung tenants using up a shared pool, the
fifth attack, needs fault injection: tests/chaos/test_shared_pools_chaos.py.)
"""
from __future__ import annotations

import io
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Iterator

import pytest
import requests

from tests.support.filesystems import small_tmpfs
from tests.support.metrics_text import samples
from tests.support.server import Server, running_server

pytestmark = pytest.mark.gunicorn

ADMIN_KEY = "starve-admin-key"
ADMIN = {"X-Admin-Key": ADMIN_KEY}
ENV = {"TENANT_ADMIN_KEY": ADMIN_KEY, "CHAOS_ENABLED": "1"}
PROBE_BUDGET = 1.0
TIMEOUT = 15
CLOSE = {"Connection": "close"}


def put(server: Server, tenant: str, body: dict | None = None) -> None:
    response = requests.put(server.url(f"/admin/tenants/{tenant}"), json=body or {},
                            headers={**ADMIN, **CLOSE}, timeout=TIMEOUT)
    assert response.status_code in (200, 201), response.text


def probe(server: Server, path: str = "/readyz") -> requests.Response:
    """A probe on the management listener, with the contract's 1 s budget."""
    started = time.monotonic()
    response = requests.get(server.management_url(path), timeout=PROBE_BUDGET)
    assert time.monotonic() - started < PROBE_BUDGET
    return response


def assert_promise_holds(server: Server, other: str = "bystander") -> None:
    for path in ("/healthz", "/readyz", "/metrics"):
        assert probe(server, path).status_code == 200, path
    assert probe(server).json() == {"status": "ready"}
    neighbour = requests.get(server.url(f"/t/{other}/health"), headers=CLOSE, timeout=TIMEOUT)
    assert (neighbour.status_code, neighbour.json()["tenant"]) == (200, other)


def series(server: Server) -> dict:
    return samples(requests.get(server.management_url("/metrics"), timeout=TIMEOUT).text)


def test_made_up_methods_add_no_metric_series(tmp_path):
    with running_server(tmp_path, workers=2, env=ENV) as server:
        put(server, "bystander")
        session = requests.Session()
        session.request("QAAAA", server.url("/healthz"), timeout=TIMEOUT)  # one of a kind
        before = series(server)

        def flood(offset: int) -> None:
            with requests.Session() as own:
                for i in range(offset, 4000, 8):
                    own.request(f"Q{i:05d}", server.url("/healthz"), timeout=TIMEOUT)

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(flood, range(8)))
        after = series(server)
        assert_promise_holds(server)

    new = {key for key in after if key not in before and key[0].startswith("flask_http")}
    # Only the scrape that measured "before" can add series (its own GET /metrics 200).
    assert all(dict(labels).get("route") == "/metrics" for _, labels in new), sorted(new)[:5]
    methods = {dict(labels)["method"] for name, labels in after if "method" in dict(labels)}
    assert methods <= {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other"}


def test_filling_the_disk_with_uploads_leaves_readyz_and_admin_writes_working(tmp_path):
    with small_tmpfs(tmp_path / "disk", "40m") as disk:
        env = {**ENV, "TENANT_DB_PATH": str(disk / "store" / "tenants.sqlite3"),
               "TENANT_DATA_ROOT": str(disk / "tenants"),
               "STORAGE_RESERVE_BYTES": str(8 << 20)}
        with running_server(tmp_path, workers=2, env=env) as server:
            put(server, "victim")
            put(server, "bystander")
            codes = []
            for _ in range(5):  # anonymous 10 MB uploads, as reported
                response = requests.post(
                    server.url("/t/victim/uploads"), headers=CLOSE, timeout=60,
                    files={"file": ("big.bin", io.BytesIO(b"\0" * 10_000_000))})
                codes.append((response.status_code, response.json().get("error")))
            assert_promise_holds(server)
            put(server, "after-the-attack")  # admin writes still work
            stored = list((disk / "tenants" / "victim" / "uploads").iterdir())

    accepted = [c for c in codes if c[0] == 202]
    assert accepted and len(accepted) < 5
    assert set(codes) - set(accepted) == {(503, "storage_low")}
    assert len(stored) == len(accepted)  # nothing of a refused upload stayed


@contextmanager
def slow_clients(server: Server, headers: int, bodies: int) -> Iterator[list[socket.socket]]:
    """``headers`` clients sending a request head one byte at a time, ``bodies`` sending an
    upload body one byte at a time, both far slower than any request should take."""
    stop, held = threading.Event(), []
    for tenant in ("victim-a", "victim-b", "victim-c", "victim-d"):
        put(server, tenant)
    for _ in range(headers):
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT)
        sock.sendall(b"G")
        held.append(sock)
    for i in range(bodies):
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT)
        tenant = ("victim-a", "victim-b", "victim-c", "victim-d")[i % 4]
        sock.sendall(f"POST /t/{tenant}/uploads HTTP/1.1\r\nHost: x\r\nContent-Type: "
                     f"multipart/form-data; boundary=b\r\nContent-Length: 1000000\r\n\r\n"
                     "--b\r\n".encode())
        held.append(sock)

    def drip() -> None:
        while not stop.wait(2.0):  # one byte every 2 s on every connection
            for sock in held:
                try:
                    sock.send(b"x")
                except OSError:
                    pass  # dropped by the server: fine, it is not holding a thread then

    dripper = threading.Thread(target=drip, daemon=True)
    dripper.start()
    try:
        yield held
    finally:
        stop.set()
        dripper.join(10)
        for sock in held:
            sock.close()


def test_slow_clients_never_delay_the_management_probes(tmp_path):
    with running_server(tmp_path, workers=2, env=ENV) as server:
        put(server, "bystander")
        with slow_clients(server, headers=40, bodies=16):
            # They do hold every traffic thread (that is why probes have a port of their own).
            with pytest.raises(requests.Timeout):
                requests.get(server.url("/healthz"), headers=CLOSE, timeout=3)
            for _ in range(3):
                for path in ("/healthz", "/readyz", "/readyz/store", "/metrics"):
                    assert probe(server, path).status_code == 200
        ok = requests.get(server.url("/healthz"), headers=CLOSE, timeout=TIMEOUT)
        assert ok.status_code == 200


def test_one_tenant_holding_everything_it_may_takes_only_its_share_of_threads(tmp_path):
    with running_server(tmp_path, workers=2, env=ENV) as server:
        put(server, "hog")
        put(server, "bystander")
        with ThreadPoolExecutor(24) as pool:
            holds = [pool.submit(requests.post, server.url("/t/hog/chaos/hold/llm_total?ms=8000"),
                                 headers=CLOSE, timeout=30) for _ in range(24)]
            assert_promise_holds(server)
            readyz = requests.get(server.url("/readyz"), headers=CLOSE, timeout=TIMEOUT)
            assert readyz.status_code == 200  # on the traffic port too
            assert not all(f.done() for f in holds)  # all that ran while the hog held on
            answers = [f.result() for f in holds]

    admitted = [r for r in answers if r.status_code == 200]
    busy = [r for r in answers if r.status_code == 429]
    assert len(admitted) <= 2 * 4  # 2 workers × half of their 8 threads
    assert len(admitted) + len(busy) == 24
    assert {r.json()["error"] for r in busy} == {"tenant_busy"}
