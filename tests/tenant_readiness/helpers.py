"""Shared settings, request helpers and a server starter for the tenant readiness tests."""
from __future__ import annotations

import os
import signal
import time
from contextlib import contextmanager
from typing import Iterator

import requests

from app.readiness.checks import CheckFailed
from tests.support.metrics_text import value
from tests.support.server import Server, start_server

BASE = {"TENANT_API_KEY": "k1,k2", "TENANT_ADMIN_KEY": "adm", "MAX_TENANT_LABELS": 5}
KEY = {"X-API-Key": "k1"}
ADMIN = {"X-Admin-Key": "adm"}


class Switch:
    """A global check a test can fail and heal."""

    def __init__(self):
        self.ok = True

    def __call__(self):
        if not self.ok:
            raise CheckFailed("dependency down")


def set_ready(client, tenant, ready, headers=KEY):
    return client.post(f"/tenant/{tenant}/set_ready", json={"ready": ready}, headers=headers)


def readyz(client, tenant):
    response = client.get(f"/tenant/{tenant}/readyz")
    return response.status_code, response.json


def scrape(client) -> str:
    response = client.get("/metrics")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def transitions(client, tenant):
    return value(scrape(client), "tenant_readiness_transitions_total", tenant=tenant)


def http(server: Server, method: str, path: str, **kwargs) -> requests.Response:
    """One request on its own connection. No idle keep-alive socket is left to wake a worker
    while it shuts down (gthread can deadlock on a signal arriving inside submit())."""
    headers = {"Connection": "close", **kwargs.pop("headers", {})}
    return requests.request(method, server.url(path), headers=headers, timeout=15, **kwargs)


@contextmanager
def serving(tmp_path, timeout: float = 60.0, **kwargs) -> Iterator[Server]:
    """running_server, but start-up tolerates a slow first answer on a loaded machine
    (Server.wait_ready gives up on the first read timeout), and no worker outlives it."""
    server = start_server(tmp_path, wait=False, **kwargs)
    workers: set[int] = set()
    try:
        deadline = time.monotonic() + timeout
        while True:
            assert server.process.poll() is None, f"gunicorn exited:\n{server.log()}"
            workers.update(server.worker_pids())
            try:
                if http(server, "GET", "/healthz").status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, f"gunicorn did not answer:\n{server.log()}"
            time.sleep(0.1)  # pause inside a loop bounded by its deadline
        yield server
    finally:
        workers.update(server.worker_pids())
        server.stop(timeout=15)
        _kill_leftovers(server, workers)


def _kill_leftovers(server: Server, pids: set[int]) -> None:
    """SIGKILL this server's workers that survived their master (same process group)."""
    for pid in pids:
        try:
            if os.getpgid(pid) == server.process.pid:
                os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
