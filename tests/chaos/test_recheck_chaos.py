"""Recheck chaos under a real gunicorn with four workers (contract sec. 12): a tenant whose
validator hangs delays no other tenant's rechecks, holds no request thread, and changes
neither /readyz nor the global readiness series."""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.runtime.helpers import AUTH, KEY
from tests.support.metrics_text import samples, scrape, value
from tests.support.polling import poll, wait_until
from tests.support.server import running_server

pytestmark = [pytest.mark.chaos, pytest.mark.gunicorn]

WORKERS = 4
WINDOW = 10.0
ENV = {"TENANT_ADMIN_KEY": KEY, "CHAOS_ENABLED": "1", "VALIDATOR_TIMEOUT_SECONDS": "1",
       "TENANT_MAX_THREAD_SHARE": "1", "RECHECK_SECONDS": "1", "RECHECK_MAX_SECONDS": "2"}
FRESH = {"Connection": "close"}
GLOBAL_READINESS = ("readiness_state", "readiness_transitions_total", "readiness_check_ok")
HANG = {"extra": {"chaos": {"validator": "hang", "seconds": 60}}}


def global_readiness(server) -> tuple:
    series = {key: v for key, v in samples(server.get("/metrics").text).items()
              if key[0] in GLOBAL_READINESS}
    readyz = server.get("/readyz", headers=FRESH)
    return (readyz.status_code, readyz.json()), series


def hit_everywhere(server, tenant: str) -> set[int]:
    def one(_):
        return server.get(f"/t/{tenant}/health", headers=FRESH).status_code

    with ThreadPoolExecutor(12) as pool:
        return set(pool.map(one, range(80)))


def ok_rechecks(server) -> float:
    text = poll(lambda: scrape(server), lambda text: text is not None)
    assert text is not None
    return value(text, "tenant_rechecks_total", result="ok") or 0.0


def test_a_hung_validator_delays_no_other_tenants_recheck(tmp_path):
    with running_server(tmp_path, workers=WORKERS, env=ENV) as server:
        before = global_readiness(server)
        assert server.put("/admin/tenants/fine", json={}, headers=AUTH).status_code == 201
        assert server.put("/admin/tenants/stuck", json=HANG, headers=AUTH).status_code == 201
        assert hit_everywhere(server, "fine") == {200}
        assert hit_everywhere(server, "stuck") <= {503}  # pending, then unavailable
        assert wait_until(lambda: (value(scrape(server) or "", "tenant_rechecks_total",
                                         result="timeout") or 0) >= 1, 30)
        start, began = ok_rechecks(server), time.monotonic()
        wait_until(lambda: time.monotonic() - began >= WINDOW, WINDOW + 5)
        runs = ok_rechecks(server) - start
        print(f"rechecks of a healthy tenant over {WINDOW:g}s beside a hung one: {runs:g}")
        assert 6 <= runs <= 13, runs  # about one per second: not held up by the hung one
        # No request thread is held: the healthy tenant answers at once on every worker.
        began = time.monotonic()
        assert hit_everywhere(server, "fine") == {200}
        assert time.monotonic() - began < 30
        assert global_readiness(server) == before
