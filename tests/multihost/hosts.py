"""Several Tenantgate hosts (real gunicorn servers) on one PostgreSQL store, for tests.

Each host gets a directory of its own (logs, metrics, limit slot files, its unused
SQLite path) under the test's tmp dir; every host shares TENANT_DB_URL and one
TENANT_DATA_ROOT, as hosts sharing a network file system would. Only 127.0.0.1,
every request with a timeout (``Server.request``, a new connection each: any worker
may answer), every wait a bounded poll.
"""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Callable, Iterator, Mapping, TypeVar

import requests

from tests.support.server import Server, running_server

ADMIN_KEY = "multihost-admin-key-6c1f"
API_KEY = "multihost-api-key-0b7e"
ADMIN = {"X-Admin-Key": ADMIN_KEY}
API = {"X-API-Key": API_KEY}
KEYS_ENV = {"TENANT_ADMIN_KEY": ADMIN_KEY, "TENANT_API_KEY": API_KEY}
POLL_TIMEOUT = 30.0

T = TypeVar("T")


def host_env(url: str, data_root: Path, extra: Mapping[str, str] | None = None) -> dict:
    return {"TENANT_DB_URL": url, "TENANT_DATA_ROOT": str(data_root), **KEYS_ENV,
            **(extra or {})}


@contextmanager
def hosts(tmp_path: Path, url: str, count: int = 2, workers: int = 2,
          env: Mapping[str, str] | None = None,
          app_module: str = "wsgi:app") -> Iterator[list[Server]]:
    """``count`` hosts started together on one store; every one stopped at the end."""
    data_root = tmp_path / "tenants"
    data_root.mkdir(parents=True, exist_ok=True)
    with ExitStack() as started:
        servers: list[Server] = []
        for index in range(count):
            home = tmp_path / f"host-{chr(ord('a') + index)}"
            home.mkdir()
            # An explicit slot directory: a SIGKILLed master cannot remove a temporary one.
            extra = {"LIMIT_STATE_DIR": str(home / "limits"), **(env or {})}
            servers.append(started.enter_context(
                running_server(home, workers=workers, wait=False, app_module=app_module,
                               env=host_env(url, data_root, extra))))
        try:
            for server in servers:
                # /healthz answers and every worker has built its app (signals sent to a
                # worker still booting would be lost).
                server.wait_ready()
            yield servers
        finally:
            # Stopped together (each stop waits for gunicorn's own shutdown); a host that
            # was killed by the test is simply reaped.
            with ThreadPoolExecutor(len(servers)) as pool:
                list(pool.map(lambda server: server.stop(), servers))


def put_tenant(server: Server, tenant: str, body: dict | None = None) -> requests.Response:
    return server.request("PUT", f"/admin/tenants/{tenant}", json=body or {}, headers=ADMIN)


def set_ready(server: Server, tenant: str, ready) -> requests.Response:
    return server.request("POST", f"/tenant/{tenant}/set_ready", json={"ready": ready},
                          headers=API)


def together(calls: list[Callable[[], T]], timeout: float = 60.0) -> list[T]:
    """Run every call in its own thread, released at once by a barrier; results in order."""
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], T]) -> T:
        barrier.wait(timeout=timeout)
        return call()

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls, timeout=timeout))
