"""Budget admission is exact across the worker processes of one host (contract sec. 14)."""
from __future__ import annotations

import socket

import pytest

from tests.policy.spends import spend_together
from tests.support.metrics_text import scrape, value, wait_for_metric
from tests.support.polling import poll
from tests.support.server import running_server

pytestmark = pytest.mark.gunicorn

KEY = "policy-gunicorn-key-4b8e"
ADMIN = {"X-Admin-Key": KEY}
TIMEOUT = 30.0


def remaining(server, tenant: str = "acme"):
    text = scrape(server)
    return None if text is None else value(text, "tenant_budget_remaining_usd", tenant=tenant)


def test_ten_concurrent_spends_of_030_against_100_on_four_workers_admit_exactly_three(
        tmp_path):
    env = {"TENANT_ADMIN_KEY": KEY, "CHAOS_ENABLED": "1", "TENANT_MAX_THREAD_SHARE": "1"}
    with running_server(tmp_path, workers=4, env=env) as server:
        assert server.put("/admin/tenants/acme", json={"budget": {"daily_cap_usd": 1.0}},
                          headers=ADMIN).status_code == 201
        answers = spend_together([server], "acme", "0.30", 10)
        assert answers == {"admitted": 3, "refused": 7}
        text = wait_for_metric(server, 7, "tenant_budget_rejections_total", tenant="acme",
                               scope="daily")
        assert value(text, "tenant_spend_usd_total", tenant="acme") == pytest.approx(0.9)
        assert value(text, "tenant_budget_remaining_usd", tenant="acme") == pytest.approx(0.1)
        wait_for_metric(server, 3, "tenant_model_requests_total", tenant="acme",
                        workspace="main", model="other", outcome="settled")


def test_a_client_that_leaves_mid_body_releases_its_reservation(tmp_path):
    env = {"TENANT_ADMIN_KEY": KEY}
    with running_server(tmp_path, workers=2, env=env,
                        app_module="tests.policy.spend_wsgi:app") as server:
        assert server.put("/admin/tenants/acme", json={"budget": {"daily_cap_usd": 1.0}},
                          headers=ADMIN).status_code == 201
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT)
        sock.sendall(b"POST /t/acme/spend-on-body HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     b"Content-Type: application/octet-stream\r\nContent-Length: 100000\r\n"
                     b"\r\n" + b"x" * 10)
        held = poll(lambda: remaining(server), lambda left: left == 0.5, TIMEOUT)
        assert held == 0.5  # reserved, the body still coming
        sock.close()
        assert poll(lambda: remaining(server), lambda left: left == 1.0, TIMEOUT) == 1.0
        text = wait_for_metric(server, 1, "tenant_model_requests_total", tenant="acme",
                               workspace="main", model="other", outcome="released")
        assert value(text, "tenant_spend_usd_total", tenant="acme") == 0.0
