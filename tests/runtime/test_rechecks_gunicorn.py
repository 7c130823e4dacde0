"""Scheduled rechecks under a real gunicorn with four workers (contract sec. 12): one
recheck per tenant per interval for the whole server, not one per worker."""
from __future__ import annotations

import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.runtime.helpers import AUTH, KEY
from tests.support.metrics_text import scrape, total
from tests.support.polling import poll, wait_until
from tests.support.server import running_server

pytestmark = pytest.mark.gunicorn

WORKERS = 4
WINDOW = 10.0
ENV = {"TENANT_ADMIN_KEY": KEY, "TENANT_MAX_THREAD_SHARE": "1", "RECHECK_SECONDS": "1",
       "RECHECK_MAX_SECONDS": "2"}


def load_everywhere(server, tenant: str) -> None:
    """Requests on fresh connections until every worker has served (and so loaded) it."""
    def one(_):
        return server.get(f"/t/{tenant}/health", headers={"Connection": "close"}).status_code

    with ThreadPoolExecutor(12) as pool:
        assert set(pool.map(one, range(80))) == {200}


def rechecks_so_far(server) -> float:
    text = poll(lambda: scrape(server), lambda text: text is not None)
    assert text is not None
    return total(text, "tenant_rechecks_total")


def rechecks_over(server, seconds: float) -> float:
    """tenant_rechecks_total's increase (every worker's summed) over ``seconds``."""
    before, began = rechecks_so_far(server), time.monotonic()
    wait_until(lambda: time.monotonic() - began >= seconds, seconds + 5)
    return rechecks_so_far(server) - before


def state_of(server, tenant: str) -> str:
    return server.get(f"/admin/tenants/{tenant}", headers=AUTH).json()["health"]["state"]


def test_four_workers_recheck_a_tenant_about_once_per_interval(tmp_path):
    with running_server(tmp_path, workers=WORKERS, env=ENV) as server:
        assert server.put("/admin/tenants/acme", json={}, headers=AUTH).status_code == 201
        load_everywhere(server, "acme")
        runs = rechecks_over(server, WINDOW)
        print(f"validator runs of one tenant over {WINDOW:g}s on {WORKERS} workers: {runs:g}")
        # About 10 (one per second for the server), nowhere near 10 per worker.
        assert 6 <= runs <= 13, runs


def test_a_vanished_directory_heals_with_no_operator(tmp_path):
    with running_server(tmp_path, workers=WORKERS, env=ENV) as server:
        assert server.put("/admin/tenants/acme", json={}, headers=AUTH).status_code == 201
        load_everywhere(server, "acme")
        data_dir = Path(server.get("/admin/tenants/acme", headers=AUTH).json()["data_dir"])
        shutil.rmtree(data_dir)
        assert wait_until(lambda: state_of(server, "acme") == "unverified", 30)
        assert server.get("/t/acme/health").status_code == 200  # keeps serving
        data_dir.mkdir()
        assert wait_until(lambda: state_of(server, "acme") == "healthy", 30)
        assert server.get("/t/acme/health").status_code == 200
