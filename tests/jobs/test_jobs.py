"""Tenant jobs through HTTP, on both store backends: the job API, retries, disabled and
purged tenants (contract sec. 13)."""
from __future__ import annotations

import pytest

from app.jobs import UnknownJobKind, submit_tenant_job
from app.runtime import TenantContext, use_tenant
from app.services import services_of
from tests.jobs.conftest import put, status, submit
from tests.runtime.helpers import AUTH
from tests.support.metrics_text import value
from tests.support.polling import poll

FINISHED = ("done", "failed")


def finished(client, tenant: str, job_id: str) -> dict:
    return poll(lambda: status(client, tenant, job_id), lambda s: s["state"] in FINISHED)


def pending_jobs(app, tenant: str) -> dict:
    counts = services_of(app).store.jobs.pending_counts([tenant])
    return {state: n for (_, state), n in counts.items()}


def test_a_job_runs_under_its_tenants_context_and_its_result_is_stored(app, client, handlers):
    assert put(client, "acme").status_code == 201
    job_id = submit(client, "acme", "first")
    assert finished(client, "acme", job_id) == {
        "id": job_id, "tenant": "acme", "kind": "record", "state": "done", "attempts": 1,
        "result": {"tenant": "acme", "workspace": "main", "name": "first"}}
    # Another tenant cannot read it.
    assert client.get(f"/t/other/jobs/record/{job_id}").status_code == 404


def test_a_job_submitted_in_a_use_tenant_block_runs_for_that_tenant(app, client, handlers):
    assert put(client, "acme").status_code == 201
    with app.app_context(), use_tenant(TenantContext("acme", "ws2")):
        job_id = submit_tenant_job("record", {"name": "background"})
    assert finished(client, "acme", job_id)["result"] == {
        "tenant": "acme", "workspace": "ws2", "name": "background"}


def test_an_unknown_kind_or_a_payload_that_is_not_json_writes_nothing(app, client, handlers):
    assert put(client, "acme").status_code == 201
    with app.app_context(), use_tenant(TenantContext("acme")):
        with pytest.raises(UnknownJobKind):
            submit_tenant_job("nobody-registered-this", {"name": "x"})
        with pytest.raises(TypeError):
            submit_tenant_job("record", {"name": object()})
    assert pending_jobs(app, "acme") == {}
    assert handlers.names() == []


def test_a_raising_handler_is_retried_with_backoff_then_done(app, client, handlers):
    assert put(client, "acme").status_code == 201
    handlers.failures["flaky"] = 2
    job_id = submit(client, "acme", "flaky")
    assert finished(client, "acme", job_id) == {
        "id": job_id, "tenant": "acme", "kind": "record", "state": "done", "attempts": 3,
        "result": {"tenant": "acme", "workspace": "main", "name": "flaky"}}
    starts = [t for _, name, t in handlers.tries if name == "flaky"]
    retry = services_of(app).settings.job_retry_seconds
    # Each wait at least doubles the one before: JOB_RETRY_SECONDS, then twice that.
    assert starts[1] - starts[0] >= retry and starts[2] - starts[1] >= 2 * retry


def test_a_handler_raising_at_every_try_ends_failed_with_the_errors_type(app, client,
                                                                         handlers):
    assert put(client, "acme").status_code == 201
    handlers.failures["broken"] = 99
    job_id = submit(client, "acme", "broken")
    body = finished(client, "acme", job_id)
    assert body == {"id": job_id, "tenant": "acme", "kind": "record", "state": "failed",
                    "attempts": 3, "error": "ValueError"}
    assert handlers.names().count("broken") == 3  # JOB_MAX_ATTEMPTS
    text = client.get("/metrics").get_data(as_text=True)
    assert value(text, "tenant_jobs_failed_total", tenant="acme") == 1
    assert value(text, "tenant_jobs", tenant="acme", state="queued") == 0


def test_a_disabled_tenants_jobs_wait_and_run_after_it_is_enabled(app, client, handlers):
    for tenant in ("acme", "other"):
        assert put(client, tenant).status_code == 201
    handlers.gate.clear()  # the job threads are held by "holder" jobs
    threads = services_of(app).settings.job_runner_threads
    holders = [submit(client, "other", f"holder-{i}") for i in range(threads)]
    poll(handlers.names, lambda names: len(names) == threads)
    waiting = submit(client, "acme", "waits")
    assert client.delete("/admin/tenants/acme", headers=AUTH).status_code == 200
    # Served first if it could be ("acme" was never served): it is not, while disabled.
    later = [submit(client, "other", f"later-{i}") for i in range(3)]
    handlers.gate.set()
    for job_id in holders + later:
        assert finished(client, "other", job_id)["state"] == "done"
    store = services_of(app).store
    assert store.jobs.get("acme", waiting).state == "queued"
    assert "waits" not in handlers.names()
    text = client.get("/metrics").get_data(as_text=True)
    assert value(text, "tenant_jobs", tenant="acme", state="queued") == 1
    # It waits on purpose: not what the oldest-queued-job alert watches.
    assert value(text, "jobs_oldest_queued_seconds") == 0
    assert put(client, "acme", {"enabled": True}).status_code == 200
    assert finished(client, "acme", waiting)["state"] == "done"


def test_a_purge_deletes_the_tenants_jobs(app, client, handlers):
    for tenant in ("acme", "other"):
        assert put(client, tenant).status_code == 201
    handlers.gate.clear()
    threads = services_of(app).settings.job_runner_threads
    holders = [submit(client, "other", f"holder-{i}") for i in range(threads)]
    poll(handlers.names, lambda names: len(names) == threads)
    for index in range(5):
        submit(client, "acme", f"purged-{index}")
    assert pending_jobs(app, "acme") == {"queued": 5}
    assert client.delete("/admin/tenants/acme?purge=1", headers=AUTH).status_code == 200
    handlers.gate.set()
    for job_id in holders:
        assert finished(client, "other", job_id)["state"] == "done"
    assert pending_jobs(app, "acme") == {}
    assert [n for n in handlers.names() if n.startswith("purged-")] == []
    # Recreated under the same id, the tenant starts without them.
    assert put(client, "acme").status_code == 201
    assert pending_jobs(app, "acme") == {}
