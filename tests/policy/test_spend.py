"""tenant_spend through HTTP: allow-list, per-request cap, daily cap, settle, release,
rollover, the fallback context and the metrics' labels (contract sec. 14)."""
from __future__ import annotations

import pytest

from app import policy
from app.policy import tenant_spend
from app.runtime import TenantContext, use_tenant
from app.services import services_of
from tests.policy.conftest import NOON, chaos_spend, put, spend
from tests.support.metrics_text import label_values, samples, scrape, value

CAPPED = {"models": {"allowed": ["model-a", "model-b"]},
          "budget": {"daily_cap_usd": 1.0, "max_per_request_usd": 0.5}}


@pytest.fixture
def client(app):
    client = app.test_client()
    assert put(client, "acme", CAPPED).status_code == 201
    assert put(client, "free").status_code == 201
    return client


def remaining(client, tenant="acme"):
    return value(scrape(client), "tenant_budget_remaining_usd", tenant=tenant)


def outcomes(client, tenant="acme"):
    text = scrape(client)
    return {dict(labels)["outcome"]: v for (name, labels), v in samples(text).items()
            if name == "tenant_model_requests_total" and dict(labels)["tenant"] == tenant}


def test_a_model_outside_the_allowed_list_is_a_403_and_spends_nothing(client):
    response = spend(client, "acme", "model-z", 0.1)
    assert response.status_code == 403
    assert response.get_json() == {"error": "model_not_allowed", "model": "model-z"}
    assert remaining(client) == 1.0
    assert outcomes(client) == {"model_not_allowed": 1.0}
    assert spend(client, "free", "model-z", 0.1).status_code == 200  # no list: every model


def test_an_estimate_above_max_per_request_is_a_429_of_scope_request(client):
    response = spend(client, "acme", "model-a", 0.500001)
    assert response.status_code == 429
    assert response.get_json() == {"error": "budget_exceeded", "scope": "request",
                                   "limit_usd": 0.5}
    assert spend(client, "acme", "model-a", 0.5).status_code == 200
    text = scrape(client)
    assert value(text, "tenant_budget_rejections_total", tenant="acme", scope="request") == 1
    assert value(text, "tenant_spend_usd_total", tenant="acme") == 0.5


def test_the_daily_cap_refuses_with_remaining_resets_at_and_retry_after(client):
    for _ in range(2):
        assert chaos_spend(client, "acme", "0.45").status_code == 200
    response = chaos_spend(client, "acme", "0.100001")
    assert response.status_code == 429
    assert response.get_json() == {"error": "budget_exceeded", "scope": "daily",
                                   "remaining_usd": 0.1, "resets_at": "2026-03-05T00:00:00Z"}
    assert response.headers["Retry-After"] == str(12 * 3600)
    ok = chaos_spend(client, "acme", "0.1")
    assert ok.status_code == 200
    assert ok.get_json() == {"tenant": "acme", "settled_usd": 0.1, "remaining_usd": 0.0}
    text = scrape(client)
    assert value(text, "tenant_budget_rejections_total", tenant="acme", scope="daily") == 1
    assert value(text, "tenant_spend_usd_total", tenant="acme") == 1.0
    assert value(text, "tenant_budget_remaining_usd", tenant="acme") == 0.0
    assert value(text, "tenant_budget_daily_cap_usd", tenant="acme") == 1.0
    assert value(text, "tenant_budget_remaining_usd", tenant="free") is None  # no cap
    assert chaos_spend(client, "free", "1000").status_code == 200  # other tenants unaffected


def test_the_next_utc_day_starts_from_zero_and_the_total_keeps_counting(client, clock):
    assert chaos_spend(client, "acme", "0.5").status_code == 200
    assert chaos_spend(client, "acme", "0.5").status_code == 200
    clock.now = NOON + 12 * 3600 - 0.001  # 23:59:59.999: still the same day
    response = chaos_spend(client, "acme", "0.01")
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "1"
    clock.now = NOON + 12 * 3600  # midnight
    assert remaining(client) == 1.0
    assert chaos_spend(client, "acme", "0.5").status_code == 200
    assert value(scrape(client), "tenant_spend_usd_total", tenant="acme") == 1.5


def test_a_settle_above_the_estimate_is_recorded_and_reported(client):
    assert spend(client, "acme", "model-a", 0.2, actual=0.7).status_code == 200
    assert remaining(client) == pytest.approx(0.3)
    assert outcomes(client) == {"overshoot": 1.0}
    # What is left is what the settled spend left, not what the estimate would have.
    assert spend(client, "acme", "model-a", 0.31).status_code == 429
    assert spend(client, "acme", "model-a", 0.1, actual=0.05).status_code == 200
    assert value(scrape(client), "tenant_spend_usd_total", tenant="acme") == 0.75


def test_an_exception_in_the_block_releases_the_reservation(client):
    response = spend(client, "acme", "model-a", 0.5, fail=True)
    assert response.status_code == 500
    assert remaining(client) == 1.0
    assert value(scrape(client), "tenant_spend_usd_total", tenant="acme") == 0.0
    assert outcomes(client) == {"released": 1.0}
    for _ in range(2):  # the room is really back
        assert spend(client, "acme", "model-a", 0.5).status_code == 200


def test_a_reservation_is_held_while_its_block_runs(app, client):
    with app.app_context(), use_tenant(TenantContext("acme")):
        with tenant_spend(model="model-a", estimate_usd=0.4) as charge:
            assert remaining(client) == pytest.approx(0.6)
            assert chaos_spend(client, "acme", "0.5").status_code == 200
            assert chaos_spend(client, "acme", "0.100001").status_code == 429
            charge.settle(0.1)
    assert remaining(client) == pytest.approx(0.4)


def test_without_a_context_the_spend_is_default_main_and_counted_once(app, client):
    assert put(client, "default", {"models": {"allowed": ["model-a"]}}).status_code in (200, 201)
    with app.app_context():
        for _ in range(3):
            with tenant_spend(model="model-a", estimate_usd=0.01):
                pass
    text = scrape(client)
    assert value(text, "tenancy_fallback_total", tenant="default", workspace="main",
                 component="policy") == 3
    assert value(text, "tenant_model_requests_total", tenant="default", workspace="main",
                 model="model-a", outcome="settled") == 3


@pytest.mark.parametrize("extra_settings", [{"ENABLE_TENANCY_STRICT": 1}])
def test_strict_mode_without_a_context_raises_and_spends_nothing(app, client):
    with app.app_context(), pytest.raises(RuntimeError, match="policy"):
        with tenant_spend(model="model-a", estimate_usd=0.01):
            raise AssertionError("the block must not run")
    assert value(scrape(client), "tenant_spend_usd_total", tenant="default") in (None, 0.0)


def test_model_and_workspace_labels_stay_bounded(client):
    for index in range(40):
        spend(client, "acme", f"junk-{index}", 0.01, headers={"X-Workspace": f"ws-{index}"})
        spend(client, "free", f"junk-{index}", 0.01, headers={"X-Workspace": f"ws-{index}"})
    assert spend(client, "acme", "model-b", 0.01).status_code == 200
    text = scrape(client)
    series = {(n, lbls) for (n, lbls) in samples(text) if n == "tenant_model_requests_total"}
    assert {dict(lbls)["model"] for _, lbls in series} == {"model-b", "other"}
    assert {dict(lbls)["workspace"] for _, lbls in series} == {"main", "other"}
    assert len(series) <= 2 * 2 * 2 * len(policy.labels.OUTCOMES)
    assert value(text, "tenant_model_requests_total", tenant="free", workspace="other",
                 model="other", outcome="settled") == 40
    assert "junk-1" not in label_values(text, "model")


def test_a_purged_tenant_leaves_no_policy_series(client):
    assert chaos_spend(client, "acme", "0.1").status_code == 200
    assert spend(client, "acme", "model-z", 0.1).status_code == 403
    assert client.delete("/admin/tenants/acme?purge=1",
                         headers={"X-Admin-Key": "policy-admin-key-5e2a"}).status_code == 200
    text = scrape(client)
    assert not [k for k in samples(text) if dict(k[1]).get("tenant") == "acme"]


def test_the_example_llm_route_estimates_from_the_prompt_and_spends(client):
    response = client.post("/t/acme/llm/student", json={"model": "model-b", "prompt": "x" * 25})
    assert response.status_code == 200
    assert response.get_json()["estimate_usd"] == 0.25  # 10000 USD per million characters
    assert remaining(client) == 0.75
    assert client.post("/t/acme/llm/student",
                       json={"model": "model-c", "prompt": "x"}).status_code == 403
    assert client.post("/t/acme/llm/teacher",
                       json={"model": "unpriced", "prompt": "x"}).get_json() == \
        {"error": "unpriced_model", "model": "unpriced"}
    for junk in ({"model": "model-a"}, {"model": 1, "prompt": "x"}, [1],
                 {"model": "model-a", "prompt": "x", "more": 1}):
        assert client.post("/t/acme/llm/student", json=junk).status_code == 400
    assert remaining(client) == 0.75
    assert client.post("/t/acme/llm/student").status_code == 200  # no body: permits only


def test_chaos_spend_refuses_bad_query_and_is_absent_without_chaos(client):
    for query in ({"usd": "-1", "ms": 0}, {"usd": "nan", "ms": 0}, {"usd": "0.1234567", "ms": 0},
                  {"usd": "1", "ms": 30001}, {"usd": "x", "ms": 0}, {"ms": 0}):
        response = client.post("/t/acme/chaos/spend", query_string=query)
        assert response.status_code == 400, query
    assert remaining(client) == 1.0


@pytest.mark.parametrize("extra_settings", [{"CHAOS_ENABLED": 0}])
def test_chaos_spend_is_a_404_without_chaos_enabled(client):
    assert chaos_spend(client, "acme", "0.1").status_code == 404


def test_a_settle_after_the_lease_ran_out_is_recorded_once(app, client, clock):
    with app.app_context(), use_tenant(TenantContext("acme")):
        with tenant_spend(model="model-a", estimate_usd=0.5):
            # The holder stalls past its lease: the room is someone else's now.
            clock.now += services_of(app).settings.lease_seconds + 1
            assert remaining(client) == 1.0
            assert chaos_spend(client, "acme", "0.5").status_code == 200
            assert chaos_spend(client, "acme", "0.5").status_code == 200
    text = scrape(client)
    assert value(text, "tenant_spend_usd_total", tenant="acme") == 1.5  # each once
    assert value(text, "tenant_budget_remaining_usd", tenant="acme") == 0.0
    assert chaos_spend(client, "acme", "0.000001").status_code == 429


def test_a_streamed_answer_closed_early_releases_and_one_read_to_the_end_settles(client):
    response = client.get("/t/acme/spend-streamed", buffered=False)
    chunks = iter(response.response)
    assert next(chunks) == b"chunk 0\n"
    assert remaining(client) == 0.5  # held while the answer streams
    response.close()
    assert remaining(client) == 1.0
    whole = client.get("/t/acme/spend-streamed")
    assert whole.get_data() == b"chunk 0\nchunk 1\nchunk 2\n"
    assert remaining(client) == 0.5
    assert outcomes(client) == {"released": 1.0, "settled": 1.0}
