"""Shared by the admin tests: keys, the cap they run with, and small request helpers."""
from __future__ import annotations

from tests.support.metrics_text import value

KEYS = ("adm-key-one-5f0c2e", "adm-key-two-9a41d7")
AUTH = {"X-Admin-Key": KEYS[0]}
CAP = 3
SETTINGS = {"TENANT_ADMIN_KEY": ",".join(KEYS), "MAX_TENANT_LABELS": CAP,
            "MAX_JSON_BYTES": 1024}


def put(client, tenant, body=None, headers=AUTH):
    return client.put(f"/admin/tenants/{tenant}", json={} if body is None else body,
                      headers=headers)


def snapshot(store):
    """Everything a refused request must leave as it was."""
    return store.version(), [r.as_dict() for r in store.tenants.list()]


def metric(client, name, **labels):
    return value(client.get("/metrics").get_data(as_text=True), name, **labels)
