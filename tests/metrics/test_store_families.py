"""Series read from the store are kept between scrapes only while nothing was committed:
a change another worker committed before a scrape shows in that scrape."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from app.services import services_of
from tests.support.metrics_text import scrape, value

ROOT = Path(__file__).resolve().parents[2]
ADMIN = {"X-Admin-Key": "families-admin"}

# Another worker: its own process and store connections. "counts" commits one change to
# each kind of series the scrape keeps, none of which moves the tenants' config version;
# "health" one that does.
OTHER_WORKER = """
import sys, time
from app.settings import load_settings
from app.store import open_store

store = open_store(load_settings(overrides={"TENANT_DB_PATH": sys.argv[1],
                                            "TENANT_DATA_ROOT": sys.argv[2]}))
if sys.argv[3] == "counts":
    store.uploads.reserve("acme", "upload-1", "notes.txt", 1234, 1 << 30, 10)
    store.jobs.submit("job-1", "acme", "main", "kind-nobody-runs", "{}", time.time())
    store.limits.add_rejections({("acme", "ocr", "tenant"): 2})
    store.budgets.add_counts({("acme", "daily"): 1}, {("acme", "main", "gpt", "ok"): 3})
    store.tenant_readiness.set_override("acme", False)
else:
    store.health.set("acme", "unverified", "checked by another worker")
store.close()
"""


def other_worker(app, change: str) -> None:
    settings = services_of(app).settings
    subprocess.run([sys.executable, "-c", OTHER_WORKER, settings.db_path, settings.data_root,
                    change], cwd=ROOT, check=True, timeout=60)


@pytest.fixture
def settings_overrides():
    return {"TENANT_ADMIN_KEY": "families-admin"}


@pytest.fixture
def reads(app, monkeypatch):
    """How often the scrape read the uploads' bytes from the store."""
    store = services_of(app).store
    counted = {"uploads": 0}
    real = store.uploads.bytes_by_tenant

    def bytes_by_tenant(tenant_ids):
        counted["uploads"] += 1
        return real(tenant_ids)

    monkeypatch.setattr(store.uploads, "bytes_by_tenant", bytes_by_tenant)
    return counted


def test_a_commit_by_another_worker_shows_in_the_next_scrape(app, client, reads):
    assert client.put("/admin/tenants/acme", json={}, headers=ADMIN).status_code == 201
    first = scrape(client)
    scrape(client)
    assert reads["uploads"] == 1  # nothing committed: the second scrape kept the series
    assert value(first, "tenant_upload_bytes", tenant="acme") == 0
    assert value(first, "tenant_jobs", tenant="acme", state="queued") == 0
    assert value(first, "tenant_health_state", tenant="acme", state="unverified") == 0
    assert value(first, "tenant_readiness_state", tenant="acme") == 1

    other_worker(app, "counts")

    text = scrape(client)
    assert reads["uploads"] == 2
    assert value(text, "tenant_upload_bytes", tenant="acme") == 1234
    assert value(text, "tenant_jobs", tenant="acme", state="queued") == 1
    assert value(text, "tenant_limit_rejections_total", tenant="acme", limit="ocr",
                 scope="tenant") == 2
    assert value(text, "tenant_budget_rejections_total", tenant="acme", scope="daily") == 1
    assert value(text, "tenant_model_requests_total", tenant="acme", workspace="main",
                 model="gpt", outcome="ok") == 3
    assert value(text, "tenant_health_state", tenant="acme", state="unverified") == 0
    assert value(text, "tenant_readiness_state", tenant="acme") == 0
    assert value(text, "tenant_readiness_transitions_total", tenant="acme") == 1

    other_worker(app, "health")
    text = scrape(client)
    assert value(text, "tenant_health_state", tenant="acme", state="unverified") == 1
    assert value(text, "tenant_health_state", tenant="acme", state="pending") == 0


def test_a_commit_through_this_worker_shows_in_the_next_scrape(client, reads):
    assert client.put("/admin/tenants/acme", json={}, headers=ADMIN).status_code == 201
    scrape(client)
    assert client.delete("/admin/tenants/acme?purge=1", headers=ADMIN).status_code == 200

    text = scrape(client)
    assert reads["uploads"] == 2
    assert value(text, "tenant_upload_bytes", tenant="acme") is None
    assert value(text, "tenant_health_state", tenant="acme", state="pending") is None


def test_readiness_series_follow_global_readiness_without_a_store_change(client, switch):
    assert client.put("/admin/tenants/acme", json={}, headers=ADMIN).status_code == 201
    scrape(client)
    assert value(scrape(client), "tenant_readiness_state", tenant="acme") == 1

    switch.ok = False  # a global check fails: nothing in the store changes
    assert value(scrape(client), "tenant_readiness_state", tenant="acme") == 0
    switch.ok = True
    assert value(scrape(client), "tenant_readiness_state", tenant="acme") == 1
