"""Shared settings and request helpers for the tenant readiness tests."""
from __future__ import annotations

from tests.support.metrics_text import scrape, value

BASE = {"TENANT_API_KEY": "k1,k2", "TENANT_ADMIN_KEY": "adm", "MAX_TENANT_LABELS": 5}
KEY = {"X-API-Key": "k1"}
ADMIN = {"X-Admin-Key": "adm"}


def set_ready(client, tenant, ready, headers=KEY):
    return client.post(f"/tenant/{tenant}/set_ready", json={"ready": ready}, headers=headers)


def readyz(client, tenant):
    response = client.get(f"/tenant/{tenant}/readyz")
    return response.status_code, response.json


def transitions(client, tenant):
    return value(scrape(client), "tenant_readiness_transitions_total", tenant=tenant)
