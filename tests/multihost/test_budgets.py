"""Budget admission is exact across hosts sharing one PostgreSQL store (contract sec. 14)."""
from __future__ import annotations

import pytest

from tests.multihost.hosts import hosts, put_tenant
from tests.policy.spends import spend_together
from tests.support.metrics_text import value, wait_for_metric

pytestmark = pytest.mark.gunicorn


def test_ten_concurrent_spends_over_two_hosts_admit_exactly_three(tmp_path, postgres_server):
    url = postgres_server.create_database()
    with hosts(tmp_path, url, env={"CHAOS_ENABLED": "1", "TENANT_MAX_THREAD_SHARE": "1"}) \
            as (a, b):
        assert put_tenant(a, "acme", {"budget": {"daily_cap_usd": 1.0}}).status_code == 201
        assert put_tenant(a, "calm", {"budget": {"daily_cap_usd": 1.0}}).status_code == 201
        answers = spend_together([a, b], "acme", "0.30", 10)
        assert answers == {"admitted": 3, "refused": 7}
        # The same figures on both hosts: they come from the store.
        for host in (a, b):
            text = wait_for_metric(host, 7, "tenant_budget_rejections_total", tenant="acme",
                                   scope="daily")
            assert value(text, "tenant_spend_usd_total", tenant="acme") == pytest.approx(0.9)
            assert value(text, "tenant_budget_remaining_usd", tenant="acme") == \
                pytest.approx(0.1)
            assert value(text, "tenant_budget_remaining_usd", tenant="calm") == 1.0
        assert spend_together([b, a], "calm", "0.5", 2) == {"admitted": 2}
