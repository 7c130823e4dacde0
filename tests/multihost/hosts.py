"""Several Tenantgate hosts (real gunicorn servers) on one PostgreSQL store, for tests.

Each host gets a directory of its own (logs, metrics, limit slot files, its unused
SQLite path) under the test's tmp dir; every host shares TENANT_DB_URL and one
TENANT_DATA_ROOT, as hosts sharing a network file system would. Only 127.0.0.1,
every request with a timeout, every wait a bounded poll.
"""
from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Callable, Iterator, Mapping, TypeVar

import requests

from tests.support.metrics_text import value
from tests.support.server import Server, running_server

ADMIN_KEY = "multihost-admin-key-6c1f"
API_KEY = "multihost-api-key-0b7e"
ADMIN = {"X-Admin-Key": ADMIN_KEY}
API = {"X-API-Key": API_KEY}
CLOSE = {"Connection": "close"}  # a new connection per request: any worker may answer
KEYS_ENV = {"TENANT_ADMIN_KEY": ADMIN_KEY, "TENANT_API_KEY": API_KEY}
REQUEST_TIMEOUT = 15.0
POLL_TIMEOUT = 30.0

T = TypeVar("T")


def host_env(url: str, data_root: Path, extra: Mapping[str, str] | None = None) -> dict:
    return {"TENANT_DB_URL": url, "TENANT_DATA_ROOT": str(data_root), **KEYS_ENV,
            **(extra or {})}


@contextmanager
def hosts(tmp_path: Path, url: str, count: int = 2, workers: int = 2,
          env: Mapping[str, str] | None = None) -> Iterator[list[Server]]:
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
                running_server(home, workers=workers, wait=False,
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


def request(method: str, server: Server, path: str, **kwargs) -> requests.Response:
    headers = {**CLOSE, **kwargs.pop("headers", {})}
    return requests.request(method, server.url(path), headers=headers,
                            timeout=kwargs.pop("timeout", REQUEST_TIMEOUT), **kwargs)


def get(server: Server, path: str, **kwargs) -> requests.Response:
    return request("GET", server, path, **kwargs)


def put_tenant(server: Server, tenant: str, body: dict | None = None) -> requests.Response:
    return request("PUT", server, f"/admin/tenants/{tenant}", json=body or {}, headers=ADMIN)


def set_ready(server: Server, tenant: str, ready) -> requests.Response:
    return request("POST", server, f"/tenant/{tenant}/set_ready", json={"ready": ready},
                   headers=API)


def scrape(server: Server) -> str | None:
    """The /metrics text, or None if the host does not answer it right now."""
    try:
        response = get(server, "/metrics", timeout=10)
    except requests.RequestException:
        return None
    return response.text if response.status_code == 200 else None


def wait_for(predicate: Callable[[], bool], what: str, timeout: float = POLL_TIMEOUT) -> None:
    """Bounded poll: ``predicate`` must hold within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)  # pause inside a loop bounded by its deadline


def wait_for_metric(server: Server, expected: float, name: str, **labels) -> str:
    """Bounded poll of one host's /metrics until ``name{labels}`` is ``expected``."""
    seen: list = [None]
    found: list = [""]

    def holds() -> bool:
        text = scrape(server)
        seen[0] = None if text is None else value(text, name, **labels)
        found[0] = text or ""
        return seen[0] == expected

    try:
        wait_for(holds, f"{name}{labels} == {expected} on {server.base}")
    except AssertionError:
        raise AssertionError(f"{name}{labels} is {seen[0]}, expected {expected}\n"
                             f"{server.log()[-3000:]}") from None
    return found[0]


def together(calls: list[Callable[[], T]], timeout: float = 60.0) -> list[T]:
    """Run every call in its own thread, released at once by a barrier; results in order."""
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], T]) -> T:
        barrier.wait(timeout=timeout)
        return call()

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls, timeout=timeout))
