"""The exported series count has an upper bound in terms of the settings, and no request
can raise it (contract sec. 17; the bound is written down in docs/slo.md).

A client floods every label it can influence (methods, paths, statuses, tenant ids,
workspaces, limit names, check names, model names); every label keeps to its documented domain,
the total stays within the bound, and the same flood again adds no series at all.
"""
from __future__ import annotations

import io
import random
import string

import pytest

from app.metrics.http import METHODS, STATUSES
from app.policy.labels import OUTCOMES
from app.policy.schemas import MAX_ALLOWED_MODELS
from app.services import services_of
from tests.support.metrics_text import samples

ADMIN, API = {"X-Admin-Key": "bound-admin"}, {"X-API-Key": "bound-api"}
CAP, LIMITS = 5, 6
SETTINGS = {"TENANT_ADMIN_KEY": "bound-admin", "TENANT_API_KEY": "bound-api",
            "CHAOS_ENABLED": 1, "MAX_TENANT_LABELS": CAP, "MAX_LIMITS_PER_TENANT": LIMITS,
            "TENANT_READINESS_HISTOGRAM": 1, "MAX_JSON_BYTES": 2048}
HTTP_HISTOGRAM_SERIES = 15 + 3  # buckets (prometheus_client's defaults) + count, sum, created


@pytest.fixture
def settings_overrides():
    return SETTINGS


def series_bound(app) -> int:
    """docs/slo.md, "How many series": the bound in terms of the settings and the routes."""
    settings = services_of(app).settings
    tenants, limits = settings.max_tenant_labels, settings.max_limits_per_tenant
    global_limits = len(settings.global_limits)
    routes = len(list(app.url_map.iter_rules())) + 1  # and <unmatched>
    methods = len(METHODS) + 1  # and other
    statuses = len(STATUSES) + 5  # and 1xx ... 5xx
    checks, components = 2, 8
    models, workspaces = MAX_ALLOWED_MODELS + 1, 2  # a tenant's allowed ones and other
    recheck_results, health_states = 4, 4
    per_process = (1 + 2 + 18 + checks + methods * routes * statuses * HTTP_HISTOGRAM_SERIES
                   + 2 * methods * statuses + 2 * methods + 2 * components
                   + 2 * recheck_results)
    from_the_store = (3 + tenants * (2 + 14) + 2 * global_limits + tenants * limits
                      + tenants * (limits + 1 + global_limits) + 2 * tenants + 2
                      + health_states * tenants
                      + tenants * (3 + 2 + workspaces * models * len(OUTCOMES)))
    return per_process + from_the_store


def word(rng: random.Random, size: int = 8) -> str:
    return "".join(rng.choice(string.ascii_lowercase) for _ in range(size))


def flood(client, seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(200):
        method = rng.choice(["Q" + word(rng).upper(), "GET", "PROPFIND", "X-" + word(rng)])
        client.open(f"/{word(rng)}/{word(rng)}", method=method)
        client.open("/healthz", method=method)
    for _ in range(30):  # tenant ids: new ones until the cap refuses them (429)
        client.post(f"/tenant/{word(rng)}/set_ready", json={"ready": True}, headers=API)
        client.get(f"/tenant/{word(rng)}/readyz")
        client.get(f"/t/{word(rng)}/health")
        client.get(f"/readyz/{word(rng)}")
    tenants = [t["tenant_id"] for t in client.get("/admin/tenants", headers=ADMIN)
               .get_json()["tenants"]]
    for tenant in tenants:
        names = {word(rng): rng.randint(1, 10_000) for _ in range(LIMITS - 4)}
        allowed = [word(rng), word(rng)]
        # A spend of 0.6 is always refused, one of 0.1 always settled: a second flood
        # meets the same outcomes.
        client.put(f"/admin/tenants/{tenant}", json={
            "limits": names, "models": {"allowed": allowed},
            "budget": {"daily_cap_usd": 1_000_000, "max_per_request_usd": 0.5}},
            headers=ADMIN)
        client.put(f"/admin/tenants/{tenant}",
                   json={"limits": {word(rng): 1 for _ in range(LIMITS)}}, headers=ADMIN)
        for model in [*allowed, word(rng), "BAD!"]:  # allowed, refused, malformed
            client.post(f"/t/{tenant}/chaos/spend?usd=0.6&ms=0&model={model}",
                        headers={"X-Workspace": word(rng)})
            client.post(f"/t/{tenant}/chaos/spend?usd=0.1&ms=0&model={model}")
        for name in [*names, word(rng), "llm_total"]:
            client.post(f"/t/{tenant}/chaos/hold/{name}?ms=0")
        client.get(f"/t/{tenant}/health", headers={"X-Workspace": word(rng)})
        client.get(f"/t/{tenant}/health", headers={"X-Workspace": "BAD!"})
        client.post(f"/t/{tenant}/uploads", data={"file": (io.BytesIO(b"x"), "a")},
                    content_type="multipart/form-data")
        client.delete(f"/t/{tenant}/uploads/{word(rng, 32)}")
        client.get(f"/tenant/{tenant}/readyz")
    client.put("/admin/tenants/x", data="{not json", content_type="application/json",
               headers=ADMIN)
    client.put("/admin/tenants/x", data="a=b", headers=ADMIN)
    client.put("/admin/tenants/x", json={"extra": {"a": "b" * 4096}}, headers=ADMIN)
    client.get("/admin/tenants")


def scrape(client) -> dict:
    return samples(client.get("/metrics").get_data(as_text=True))


def labels_of(found: dict, label: str) -> set[str]:
    return {dict(labels)[label] for _, labels in found if label in dict(labels)}


def test_no_flood_takes_a_label_outside_its_domain_or_the_count_past_the_bound(app, client):
    flood(client, seed=1)
    found = scrape(client)

    assert len(found) <= series_bound(app)
    statuses = {str(s) for s in STATUSES} | {f"{n}xx" for n in range(1, 6)}
    assert labels_of(found, "method") <= METHODS | {"other"}
    assert labels_of(found, "status") <= statuses
    assert labels_of(found, "route") <= {r.rule for r in app.url_map.iter_rules()} | \
        {"<unmatched>"}
    stored = {t["tenant_id"] for t in client.get("/admin/tenants", headers=ADMIN)
              .get_json()["tenants"]}
    assert len(stored) <= CAP and labels_of(found, "tenant") <= stored | {"default"}
    assert labels_of(found, "workspace") <= {"main", "other"}
    allowed = {m for t in client.get("/admin/tenants", headers=ADMIN).get_json()["tenants"]
               for m in t["models"].get("allowed", [])}
    assert labels_of(found, "model") <= allowed | {"other"}
    assert labels_of(found, "model") & allowed  # the flood reached the policy's series
    assert {"settled", "model_not_allowed", "budget_exceeded"} <= labels_of(found, "outcome")
    assert labels_of(found, "outcome") <= set(OUTCOMES)
    assert labels_of(found, "scope") <= {"request", "daily", "tenant", "global"}
    assert labels_of(found, "check") == {"store", "shutdown"}
    settings = services_of(app).settings
    for tenant in stored:
        limits = {dict(labels)["limit"] for name, labels in found
                  if dict(labels).get("tenant") == tenant and "limit" in dict(labels)}
        assert len(limits - set(settings.global_limits) - {"requests"}) <= LIMITS


def test_the_same_flood_again_adds_no_series(client):
    flood(client, seed=2)
    scrape(client)  # the scrape's own GET /metrics series
    before = set(scrape(client))

    flood(client, seed=2)

    assert set(scrape(client)) - before == set()
