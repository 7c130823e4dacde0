"""Scrape-time series from the store: the label gauges, and a scrape that survives the store."""
from __future__ import annotations

import logging

import pytest

from app.store import StoreUnavailable
from app.services import services_of
from tests.support.metrics_text import label_values, scrape, value
from tests.tenant_readiness.helpers import ADMIN, BASE, set_ready


@pytest.fixture
def settings_overrides():
    return dict(BASE)  # the cap is 5


@pytest.fixture
def store(app):
    return services_of(app).store


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


def test_a_scrape_while_the_store_is_unavailable_answers_with_the_cap_alone(client, store,
                                                                            monkeypatch):
    set_ready(client, "acme", True)

    def unavailable():
        raise StoreUnavailable("database is locked")

    monkeypatch.setattr(store.tenants, "count", unavailable)
    text = scrape(client)
    assert value(text, "tenant_labels_limit") == 5
    assert value(text, "tenant_labels_active") is None
    assert label_values(text, "tenant") == set()


@pytest.mark.parametrize("failure", [StoreUnavailable("database is locked"),
                                     RuntimeError("a bug in one source")],
                         ids=["store-unavailable", "any-error"])
def test_a_failing_source_of_tenant_series_leaves_the_others(client, store, monkeypatch,
                                                             caplog, failure):
    set_ready(client, "acme", True)

    def fail(*args):
        raise failure

    monkeypatch.setattr(store.tenant_readiness, "first", fail)  # what the readiness series read
    with caplog.at_level(logging.WARNING, logger="app.metrics.store_collector"):
        text = scrape(client)
    assert value(text, "tenant_labels_active") == 1
    assert value(text, "tenant_readiness_state", tenant="acme") is None
    assert value(text, "tenant_limit_inflight", tenant="acme", limit="ocr") == 0
    assert "app.metrics.store_collector" in {r.name for r in caplog.records}  # logged, not lost
