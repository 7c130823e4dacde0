"""Fixtures: config/nginx.conf in front of a real gunicorn, or in front of nothing."""
from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.deployment.nginx import Nginx, require_nginx, start_nginx
from tests.support.server import Server, running_server

KEY = "deployment-admin-key-5d1f"
ADMIN = {"X-Admin-Key": KEY}
# Few threads, so that slow clients straight to gunicorn certainly hold every one.
WORKERS, THREADS = 2, 2


@dataclass
class Deployment:
    server: Server
    nginx: Nginx


@pytest.fixture(scope="package")
def deployment(tmp_path_factory):
    """gunicorn (WORKERS x THREADS) behind nginx, with tenants "acme" (host
    acme.localhost) and "closed" (disabled), created through nginx."""
    require_nginx()
    tmp: Path = tmp_path_factory.mktemp("deployment")
    with running_server(tmp, env={"TENANT_ADMIN_KEY": KEY}, workers=WORKERS,
                        threads=THREADS) as server:
        (tmp / "nginx").mkdir()
        nginx = start_nginx(tmp / "nginx", server.port)
        try:
            for tenant, config in (("acme", {"hosts": ["acme.localhost"]}),
                                   ("closed", {"enabled": False})):
                response = requests.put(nginx.url(f"/admin/tenants/{tenant}"), json=config,
                                        headers=ADMIN, timeout=10)
                assert response.status_code == 201, response.text
            yield Deployment(server, nginx)
        finally:
            nginx.stop()


@pytest.fixture
def refused_upstream():
    """A port bound but not listening: every connection to it is refused, as to a stopped
    gunicorn, and no other process can take it meanwhile."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


@pytest.fixture
def lone_nginx(tmp_path, refused_upstream):
    """nginx with gunicorn down."""
    require_nginx()
    nginx = start_nginx(tmp_path, refused_upstream)
    try:
        yield nginx
    finally:
        nginx.stop()
