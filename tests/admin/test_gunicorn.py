"""The admin API under a real gunicorn with 4 workers: the cap is exact, writes are seen by all."""
from __future__ import annotations

import sqlite3
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.support.metrics_text import label_values, value
from tests.support.polling import wait_until
from tests.support.server import running_server

pytestmark = pytest.mark.gunicorn

KEY = "gunicorn-admin-key-0b6e"
AUTH = {"X-Admin-Key": KEY}


def all_workers_forked(server, workers: int) -> bool:
    """Bounded poll: the master has forked every worker; /healthz answers meanwhile."""
    def forked() -> bool:
        if len(server.worker_pids()) >= workers:
            return True
        assert server.get("/healthz").status_code == 200
        return False

    return wait_until(forked)


def test_fifty_parallel_creations_admit_exactly_the_cap(tmp_path):
    cap, clients = 20, 50
    barrier = threading.Barrier(clients)
    env = {"TENANT_ADMIN_KEY": KEY, "MAX_TENANT_LABELS": str(cap)}
    with running_server(tmp_path, workers=4, env=env) as server:
        assert all_workers_forked(server, 4)

        def create(i: int) -> tuple[str, requests.Response]:
            tenant = f"par-{i:02d}"
            barrier.wait(timeout=30)
            return tenant, requests.put(server.url(f"/admin/tenants/{tenant}"), json={},
                                        headers=AUTH, timeout=60)

        started = time.monotonic()
        with ThreadPoolExecutor(clients) as pool:
            answers = list(pool.map(create, range(clients)))
        elapsed = time.monotonic() - started
        text = server.get("/metrics").text
        listed = server.get("/admin/tenants", headers=AUTH).json()["tenants"]
    print(f"\n{clients} parallel PUTs, cap {cap}: {elapsed:.2f}s wall")

    codes = Counter(response.status_code for _, response in answers)
    assert codes == {201: cap, 429: clients - cap}, [r.text for _, r in answers]
    for _, response in answers:
        if response.status_code == 429:
            assert response.json() == {"error": "label_cardinality_limit", "limit": cap}
    created = {tenant for tenant, response in answers if response.status_code == 201}
    assert {t["tenant_id"] for t in listed} == created
    assert value(text, "tenant_label_rejections_total") == clients - cap
    assert value(text, "tenant_labels_active") == cap
    assert value(text, "tenant_labels_limit") == cap
    assert label_values(text, "tenant") <= created

    # The server has stopped: the file is whole and holds exactly the admitted tenants.
    with sqlite3.connect(tmp_path / "store" / "tenants.sqlite3") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        rows = {r[0] for r in conn.execute("SELECT tenant_id FROM tenants")}
    conn.close()
    assert rows == created


def fresh_get(server, path: str) -> requests.Response:
    # No session and Connection: close, so every request is a new connection that any
    # worker may accept.
    return requests.get(server.url(path), headers={**AUTH, "Connection": "close"}, timeout=10)


def test_every_worker_sees_a_write_on_its_next_request(tmp_path):
    reads = 40
    with running_server(tmp_path, workers=4, env={"TENANT_ADMIN_KEY": KEY}) as server:
        assert all_workers_forked(server, 4)
        for i in range(5):
            tenant = f"seen-{i}"
            created = server.put(f"/admin/tenants/{tenant}", json={"hosts": [f"{tenant}.example"]},
                                 headers=AUTH)
            assert created.status_code == 201
            answers = [fresh_get(server, f"/admin/tenants/{tenant}") for _ in range(reads)]
            assert [a.status_code for a in answers] == [200] * reads
            assert all(a.json()["hosts"] == [f"{tenant}.example"] for a in answers)

            changed = server.put(f"/admin/tenants/{tenant}", json={"enabled": False},
                                 headers=AUTH)
            assert changed.status_code == 200
            answers = [fresh_get(server, f"/admin/tenants/{tenant}") for _ in range(reads)]
            assert [(a.json()["enabled"], a.json()["hosts"]) for a in answers] == \
                [(False, [])] * reads

            purged = server.delete(f"/admin/tenants/{tenant}?purge=1", headers=AUTH)
            assert purged.status_code == 200
            answers = [fresh_get(server, f"/admin/tenants/{tenant}") for _ in range(reads)]
            assert [a.status_code for a in answers] == [404] * reads
        assert len(set(server.worker_pids())) >= 2
