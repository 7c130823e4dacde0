"""Scrape-time series from the store: the label gauges, and a scrape that survives the store."""
from __future__ import annotations

import pytest

from tests.support.metrics_text import label_values, scrape, value
from tests.tenant_readiness.helpers import ADMIN, BASE, set_ready


@pytest.fixture
def settings_overrides():
    return dict(BASE)  # the cap is 5


@pytest.fixture
def store(app):
    return app.extensions["tenantgate.store"]


def purge(client, tenant):
    response = client.delete(f"/admin/tenants/{tenant}?purge=1", headers=ADMIN)
    assert response.status_code == 200
    assert response.json["purged"] is True


def test_label_gauges_report_active_tenants_and_the_cap(client):
    text = scrape(client)
    assert value(text, "tenant_labels_limit") == 5
    assert value(text, "tenant_labels_active") == 0
    for count, tenant in enumerate(["a", "b", "c", "d"], start=1):
        set_ready(client, tenant, None)
        assert value(scrape(client), "tenant_labels_active") == count
    assert client.delete("/admin/tenants/a", headers=ADMIN).status_code == 200
    text = scrape(client)
    assert value(text, "tenant_labels_active") == 4  # disabled, still registered
    assert value(text, "tenant_readiness_state", tenant="a") == 0
    purge(client, "b")
    text = scrape(client)
    assert value(text, "tenant_labels_active") == 3
    assert value(text, "tenant_labels_limit") == 5
    assert label_values(text, "tenant") == {"a", "c", "d"}
