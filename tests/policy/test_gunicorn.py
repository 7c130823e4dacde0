"""Budget admission is exact across the worker processes of one host (contract sec. 14)."""
from __future__ import annotations

import pytest

from tests.policy.spends import spend_together
from tests.support.metrics_text import value, wait_for_metric
from tests.support.server import running_server

pytestmark = pytest.mark.gunicorn

KEY = "policy-gunicorn-key-4b8e"
ADMIN = {"X-Admin-Key": KEY}


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
