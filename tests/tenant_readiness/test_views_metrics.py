"""Tenant readiness through the test client: label cap, churn, tenant metrics, failure isolation."""
from __future__ import annotations

import pytest

from app.store import StoreUnavailable
from app.services import services_of
from tests.support.metrics_text import label_values, scrape, value
from tests.support.polling import wait_until
from tests.tenant_readiness.helpers import ADMIN, readyz, set_ready

HISTOGRAM = "tenant_readiness_check_duration_seconds"


def fill(client, count=5, prefix="t"):
    tenants = [f"{prefix}{i}" for i in range(count)]
    for tenant in tenants:
        assert set_ready(client, tenant, True).status_code == 200
    return tenants


def purge(client, tenant):
    response = client.delete(f"/admin/tenants/{tenant}?purge=1", headers=ADMIN)
    assert response.status_code == 200
    assert response.json["purged"] is True


@pytest.mark.parametrize("ready", [True, False, None])
def test_sixth_tenant_is_refused_with_429(client, ready):
    tenants = fill(client)
    assert value(scrape(client), "tenant_label_rejections_total") == 0
    response = set_ready(client, "t5", ready)
    assert response.status_code == 429
    assert response.json == {"error": "label_cardinality_limit", "limit": 5}
    text = scrape(client)
    assert value(text, "tenant_label_rejections_total") == 1
    assert label_values(text, "tenant") == set(tenants)
    assert readyz(client, "t5")[0] == 404


def test_registered_tenants_are_still_served_at_the_cap(client):
    fill(client)
    assert set_ready(client, "t5", True).status_code == 429
    response = set_ready(client, "t0", False)
    assert response.status_code == 200
    assert response.json == {"tenant": "t0", "status": "not ready", "changed": True}
    assert readyz(client, "t4")[0] == 200
    assert value(scrape(client), "tenant_label_rejections_total") == 1


def test_every_refusal_counts_once(client):
    fill(client)
    for i in range(7):
        assert set_ready(client, f"over{i}", True).status_code == 429
    assert set_ready(client, "over0", "yes").status_code == 400  # refused before the cap
    text = scrape(client)
    assert value(text, "tenant_label_rejections_total") == 7
    assert len(label_values(text, "tenant")) == 5


@pytest.mark.parametrize("settings_overrides", [{"TENANT_READINESS_HISTOGRAM": 1}],
                         indirect=True)
def test_churn_never_exceeds_the_cap_and_purged_series_vanish(client):
    live = fill(client, prefix="c")
    for tenant in live:
        readyz(client, tenant)
    for n in range(20):
        gone = live.pop(0)
        purge(client, gone)
        text = scrape(client)
        assert label_values(text, "tenant") == set(live)
        assert f'tenant="{gone}"' not in text
        assert readyz(client, gone)[0] == 404
        live.append(f"n{n}")
        assert set_ready(client, live[-1], n % 2 == 0).status_code == 200
        readyz(client, live[-1])
        text = scrape(client)
        assert label_values(text, "tenant") == set(live)
        assert value(text, "tenant_labels_active") == 5
        assert value(text, f"{HISTOGRAM}_count", tenant=live[-1]) == 1
    assert value(text, "tenant_label_rejections_total") == 0


def test_recreated_tenant_starts_with_fresh_series(client):
    for ready in (True, False, True):
        set_ready(client, "acme", ready)
    assert value(scrape(client), "tenant_readiness_transitions_total", tenant="acme") == 2
    purge(client, "acme")
    assert set_ready(client, "acme", True).json["changed"] is True
    text = scrape(client)
    assert value(text, "tenant_readiness_transitions_total", tenant="acme") == 0
    assert value(text, "tenant_readiness_state", tenant="acme") == 1


@pytest.mark.parametrize("ready, state", [(True, 1), (False, 0), (None, 1)])
def test_tenant_readiness_state_follows_the_effective_status(client, ready, state):
    set_ready(client, "acme", ready)
    assert value(scrape(client), "tenant_readiness_state", tenant="acme") == state


def test_duration_histogram_is_absent_unless_enabled(client):
    set_ready(client, "acme", True)
    for _ in range(3):
        assert readyz(client, "acme")[0] == 200
    assert HISTOGRAM not in scrape(client)


@pytest.mark.parametrize("settings_overrides", [{"TENANT_READINESS_HISTOGRAM": 1}],
                         indirect=True)
def test_duration_histogram_counts_each_resolution(client):
    set_ready(client, "acme", True)
    set_ready(client, "quiet", False)
    for _ in range(3):
        assert readyz(client, "acme")[0] == 200
    assert readyz(client, "nobody")[0] == 404
    text = scrape(client)
    assert value(text, f"{HISTOGRAM}_count", tenant="acme") == 3
    assert value(text, f"{HISTOGRAM}_bucket", tenant="acme", le="+Inf") == 3
    assert value(text, f"{HISTOGRAM}_sum", tenant="acme") >= 0
    assert value(text, f"{HISTOGRAM}_count", tenant="quiet") is None
    assert "nobody" not in label_values(text, "tenant")
    readyz(client, "acme")
    assert value(scrape(client), f"{HISTOGRAM}_count", tenant="acme") == 4


@pytest.mark.parametrize("error, reason", [
    (RuntimeError("disk on fire"), "resolution_failed"),
    (StoreUnavailable("database is locked"), "store_unavailable"),
])
def test_failure_resolving_one_tenant_is_that_tenants_error_only(app, client, monkeypatch,
                                                                 error, reason):
    set_ready(client, "broken", True)
    set_ready(client, "healthy", None)
    store = services_of(app).store
    real_get = store.tenant_readiness.get

    def get(tenant_id):
        if tenant_id == "broken":
            raise error
        return real_get(tenant_id)

    monkeypatch.setattr(store.tenant_readiness, "get", get)
    for _ in range(3):
        assert readyz(client, "broken") == (503, {"tenant": "broken", "status": "error",
                                                  "reason": reason})
        assert readyz(client, "healthy") == (200, {"tenant": "healthy", "status": "ready",
                                                   "reason": "inherited"})
        assert client.get("/readyz").json == {"status": "ready"}
    text = scrape(client)
    assert value(text, "readiness_state") == 1
    assert value(text, "readiness_check_ok", check="store") == 1
    assert label_values(text, "tenant") == {"broken", "healthy"}
    # An operator can still pin the failing tenant; its answer stays error meanwhile.
    response = set_ready(client, "broken", False)
    assert response.status_code == 200
    assert response.json == {"tenant": "broken", "status": "error", "changed": True}
    monkeypatch.setattr(store.tenant_readiness, "get", real_get)
    assert readyz(client, "broken") == (503, {"tenant": "broken", "status": "not ready",
                                              "reason": "override"})


def test_a_failing_tenant_shows_state_0_on_metrics_until_it_resolves_again(app, client,
                                                                           monkeypatch):
    set_ready(client, "broken", True)
    store = services_of(app).store
    service = services_of(app).tenant_readiness
    real = service._resolve_and_record

    def resolve(tenant, inject_faults=False):
        if tenant == "broken" and inject_faults:
            raise RuntimeError("backend exploded")
        return real(tenant, inject_faults)

    monkeypatch.setattr(service, "_resolve_and_record", resolve)
    assert readyz(client, "broken")[1]["status"] == "error"
    # The error is recorded in the background.
    assert wait_until(lambda: store.tenant_readiness.get("broken").status == "error")
    assert value(scrape(client), "tenant_readiness_state", tenant="broken") == 0
    monkeypatch.undo()
    assert readyz(client, "broken")[0] == 200
    assert value(scrape(client), "tenant_readiness_state", tenant="broken") == 1
