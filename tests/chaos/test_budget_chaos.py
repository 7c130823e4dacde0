"""Chaos: a worker SIGKILLed while it holds a budget reservation (contract sec. 14).

The reservation stops counting within LEASE_SECONDS, nobody having to notice the death;
global readiness does not move and another tenant keeps spending meanwhile.
"""
from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path

import pytest

from tests.support.metrics_text import scrape, value
from tests.support.polling import poll
from tests.support.server import running_server

pytestmark = [pytest.mark.chaos, pytest.mark.gunicorn]

KEY = "chaos-budget-key-1d7f"
ADMIN = {"X-Admin-Key": KEY}
LEASE_SECONDS = 3
TIMEOUT = 30.0


def hold_spend(server, tenant: str, usd: str, ms: int) -> socket.socket:
    """A spend sent over a socket of ours, so the worker serving it can be found."""
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT)
    sock.sendall(f"POST /t/{tenant}/chaos/spend?usd={usd}&ms={ms} HTTP/1.1\r\n"
                 "Host: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode())
    return sock


def _tcp_inode(local_port: int, remote_port: int) -> str | None:
    # /proc/net/tcp: "sl local rem st ... inode"; addresses are hex IP:port.
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].split(":")[1], 16) == local_port \
                and int(fields[2].split(":")[1], 16) == remote_port:
            return fields[9]
    return None


def serving_worker(server, sock: socket.socket) -> int | None:
    """The worker whose socket is the other end of ``sock``."""
    inode = _tcp_inode(server.port, sock.getsockname()[1])
    for pid in server.worker_pids():
        try:
            links = [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")]
        except OSError:  # the worker exited meanwhile
            continue
        if inode is not None and f"socket:[{inode}]" in links:
            return pid
    return None


def remaining(server, tenant: str):
    text = scrape(server)
    return None if text is None else value(text, "tenant_budget_remaining_usd", tenant=tenant)


def test_a_killed_holder_gives_its_reservation_back_within_the_lease(tmp_path):
    env = {"TENANT_ADMIN_KEY": KEY, "CHAOS_ENABLED": "1", "LEASE_SECONDS": str(LEASE_SECONDS)}
    with running_server(tmp_path, workers=2, env=env) as server:
        for tenant in ("noisy", "calm"):
            assert server.put(f"/admin/tenants/{tenant}", json={
                "budget": {"daily_cap_usd": 1.0}}, headers=ADMIN).status_code == 201
        readyz = server.get("/readyz").status_code
        sock = hold_spend(server, "noisy", "1", 30000)
        assert poll(lambda: remaining(server, "noisy"), lambda left: left == 0.0, TIMEOUT) == 0.0
        held_since = time.monotonic()
        # Still held once its first lease has run out: its living holder renews it.
        poll(lambda: time.monotonic() - held_since, lambda age: age > LEASE_SECONDS + 1,
             TIMEOUT)
        assert remaining(server, "noisy") == 0.0
        assert server.post("/t/noisy/chaos/spend", params={"usd": "0.01", "ms": 0}) \
            .status_code == 429
        pid = poll(lambda: serving_worker(server, sock), lambda found: found is not None, TIMEOUT)
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        sock.close()
        # Back within the lease (polled, bounded): the dead worker renews nothing.
        killed_at = time.monotonic()
        assert poll(lambda: remaining(server, "noisy"), lambda left: left == 1.0, TIMEOUT) == 1.0
        released_after = time.monotonic() - killed_at  # reported; bounded by the poll above
        print(f"reservation of a killed holder released after {released_after:.1f}s "
              f"(LEASE_SECONDS={LEASE_SECONDS})")
        answer = server.post("/t/noisy/chaos/spend", params={"usd": "1", "ms": 0})
        assert answer.status_code == 200 and answer.json()["remaining_usd"] == 0.0
        calm = server.post("/t/calm/chaos/spend", params={"usd": "0.5", "ms": 0})
        assert calm.status_code == 200 and calm.json()["remaining_usd"] == 0.5
        assert server.get("/readyz").status_code == readyz == 200
        text = scrape(server)
        assert value(text, "tenant_spend_usd_total", tenant="noisy") == 1.0  # the dead one: 0
